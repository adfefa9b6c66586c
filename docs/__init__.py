"""The docs' Python helpers: the doctest set-up (conftest) and the MkDocs hook; not part of the site."""
