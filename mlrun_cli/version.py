"""mlrun-cli's version, on the ground: the project loader stamps it into what it caches, without
climbing to the package's face (`__init__.py`) for one string. The wheel's version is read here."""

__version__ = "0.1.0"
