"""jobc: a compiler for compute jobs (see README.md and docs/)."""

__version__ = "0.1.0"
