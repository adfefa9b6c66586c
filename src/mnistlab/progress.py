"""Progress display on stderr with rich: download bars for pooch, step bars and spinners."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

console = Console(stderr=True, emoji=False)


def want_progress(progress: bool | None) -> bool:
    """Resolve ``progress=None`` to "only when stderr is a terminal"."""
    return sys.stderr.isatty() if progress is None else progress


class DownloadBar:
    """A rich download bar with the interface pooch expects of a progress bar object.

    pooch's ``HTTPDownloader(progressbar=obj)`` sets ``obj.total`` and calls ``update(n)``,
    ``reset()`` and ``close()``; this adapter forwards those calls to a rich Progress.
    """

    def __init__(self, description: str) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(description, total=None)
        self._progress.start()
        self._total: int | None = None

    @property
    def total(self) -> int | None:
        return self._total

    @total.setter
    def total(self, value: int | None) -> None:
        self._total = value
        self._progress.update(self._task, total=value)

    def update(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def reset(self) -> None:
        self._progress.reset(self._task, total=self._total)

    def close(self) -> None:
        self._progress.stop()


@contextlib.contextmanager
def status(message: str, enabled: bool | None = None) -> Iterator[None]:
    """Show a spinner with ``message`` on stderr while the block runs (if enabled)."""
    if want_progress(enabled):
        with console.status(message):
            yield
    else:
        yield


def _step_progress() -> Progress:
    """A transient bar with a description, the count of steps done and the time elapsed."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@contextlib.contextmanager
def steps(description: str, total: int, enabled: bool | None = None) -> Iterator[Callable[[], None]]:
    """A rich progress bar of ``total`` steps on stderr (if enabled); yields ``advance()``."""
    if not want_progress(enabled):
        yield lambda: None
        return
    progress = _step_progress()
    task = progress.add_task(description, total=total)
    with progress:
        yield lambda: progress.advance(task)


class _TrainingBar:
    """One bar per epoch: batches done, running loss and accuracy; a summary line when it ends."""

    def __init__(self, epochs: int, batches: int, progress: Progress | None) -> None:
        self._epochs, self._batches, self._progress = epochs, batches, progress
        self._task: TaskID | None = None

    def advance(self, epoch: int, loss: float, accuracy: float) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task("", total=self._batches)
        self._progress.update(
            self._task,
            advance=1,
            description=f"epoch {epoch}/{self._epochs}  loss {loss:.4f}  accuracy {accuracy:.2%}",
        )

    def end_epoch(self, record: dict) -> None:
        if self._progress is None:
            return
        validation = record["validation_accuracy"]
        tail = "" if validation is None else f"  validation {validation:.2%}"
        self._progress.console.print(
            f"epoch {record['epoch']}/{self._epochs}  loss {record['loss']:.4f}  "
            f"accuracy {record['train_accuracy']:.2%}{tail}  (after {record['seconds']:.0f} s)",
            highlight=False,
        )
        assert self._task is not None  # added by advance(): an epoch has at least one batch
        self._progress.remove_task(self._task)
        self._task = None


@contextlib.contextmanager
def training_bar(epochs: int, batches: int, enabled: bool | None = None) -> Iterator[_TrainingBar]:
    """Progress of neural-network training on stderr (if enabled): a bar per epoch."""
    if not want_progress(enabled):
        yield _TrainingBar(epochs, batches, None)
        return
    progress = _step_progress()
    with progress:
        yield _TrainingBar(epochs, batches, progress)
