"""`python -m compiler` is `jobc`."""

from compiler.cli import run

run()
