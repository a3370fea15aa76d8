"""The `jobc` command line: one group whose commands live in modules of this package.

Each command is named in `COMMANDS` as `module:attribute` and imported only when it
runs (or when `--help` lists them), so a command pays only for what it uses and
`jobc cid` starts fast. Exit codes are in `compiler.cli.common` and docs/cli.md.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import click

from compiler.cli.common import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, EXIT_USAGE

__all__ = ["COMMANDS", "EXIT_INTERNAL", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "main", "run"]

COMMANDS: dict[str, str] = {
    "compile": "compiler.cli.jobs:compile",
    "cid": "compiler.cli.jobs:cid",
    "check": "compiler.cli.jobs:check",
    "explain": "compiler.cli.jobs:explain",
    "verify": "compiler.cli.jobs:verify",
    "lock": "compiler.cli.jobs:lock",
    "home": "compiler.cli.jobs:home",
    "hash": "compiler.cli.hash:hash_",
    "run": "compiler.cli.run:run",
    "receipt": "compiler.cli.run:receipt",
    "gateway": "compiler.cli.gateway:gateway",
    "trace": "compiler.cli.store:trace",
    "find": "compiler.cli.store:find",
    "lineage": "compiler.cli.store:lineage",
    "refcount": "compiler.cli.store:refcount",
    "reputation": "compiler.cli.store:reputation",
    "disown": "compiler.cli.store:disown",
    "import": "compiler.cli.store:import_",
    "export": "compiler.cli.export:export",
}
"""Command name → `module:attribute` of its click command."""


class LazyGroup(click.Group):
    """A click group that imports a command's module only when the command is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        found: click.Command = getattr(importlib.import_module(module), attribute)
        return found


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jobc", prog_name="jobc")
def main() -> None:
    """jobc: compile compute jobs into canonical, content-addressed jobs."""


def run() -> NoReturn:
    """Entry point for `python -m compiler`."""
    main()
    sys.exit(0)
