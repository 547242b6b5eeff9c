"""The web package's version, in a module of its own: the app's modules read it without importing the package's
`__init__` (which imports the app lazily)."""

__version__ = "0.1.0"
