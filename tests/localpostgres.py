"""A real PostgreSQL cluster on this machine, for tests and benchmarks.

Debian's PostgreSQL 15 binaries (`initdb`, `pg_ctl` in /usr/lib/postgresql/15/bin) make
a cluster in a fresh temporary folder and run it on 127.0.0.1 at a free port, its socket
in that folder too: nothing of the system's own PostgreSQL is used or touched. The
server refuses to run as root, so as root (CI, this machine) the cluster belongs to the
unprivileged `nobody` user; a developer runs it as themselves. Clients connect over TCP
as the cluster's superuser `jobc`, with trust authentication on loopback only.

As a command: `python -m tests.localpostgres run -- CMD…` runs CMD with
`JOBC_TEST_POSTGRES` set to the URL of a database in a cluster that lives as long as CMD.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(os.environ.get("JOBC_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "jobc"
RUN_AS = "nobody"
"""The user the server runs as when we are root (PostgreSQL refuses root)."""


def available() -> bool:
    """Whether the PostgreSQL server binaries are installed."""
    return (BIN / "initdb").is_file() and (BIN / "pg_ctl").is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalPostgres:
    """One cluster: `start()`, `create_database()`, `url()`, `stop()`."""

    durable: bool = False
    """False turns fsync off (tests: a crash of the server is not what they test);
    benchmarks keep PostgreSQL's defaults."""
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="jobc-pg-")))
    port: int = 0
    _owner: dict[str, Any] = field(default_factory=dict)
    _serial: int = 0
    _schemas_in: str = ""

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(
            [str(a) for a in argv],
            env=env,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            **self._owner,
        )

    def start(self) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._owner = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self._run(
            BIN / "initdb",
            "-D",
            self.data,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.port = free_port()
        settings = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.root}",
            "-c max_connections=200",
        ]
        if not self.durable:
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        result = self._run(
            BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.root / "server.log",
            "-o",
            " ".join(settings),
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if result.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{log}")

    def stop(self) -> None:
        if self.data.is_dir():
            self._run(BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "jobc") -> str:
        """A new empty database; returns its URL."""
        import psycopg

        self._serial += 1
        name = f"{prefix}_{os.getpid()}_{self._serial}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def create_schema(self) -> str:
        """A new empty schema in the cluster's `jobc` database, as a URL whose connections
        use it (`search_path`): much quicker to make than a database, for a test each."""
        import psycopg

        if not self._schemas_in:
            self._schemas_in = self.create_database("schemas")
        self._serial += 1
        name = f"test_{self._serial}"
        with psycopg.connect(self._schemas_in, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self._schemas_in}?options=-csearch_path%3D{name}"

    def drop_schema(self, url: str) -> None:
        import psycopg

        name = url.rsplit("%3D", 1)[1]
        with psycopg.connect(self._schemas_in, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running(*, durable: bool = False) -> Iterator[LocalPostgres]:
    """A cluster for the duration of the block."""
    cluster = LocalPostgres(durable=durable)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2 or argv[0] != "run" or "--" not in argv:
        print("usage: python -m tests.localpostgres run -- CMD...", file=sys.stderr)
        return 2
    command = list(argv[argv.index("--") + 1 :])
    with running() as cluster:
        env = dict(os.environ, JOBC_TEST_POSTGRES=cluster.create_database())
        started = time.monotonic()
        code = subprocess.call(command, env=env)
        print(f"(PostgreSQL ran for {time.monotonic() - started:.1f}s)", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
