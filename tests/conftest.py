"""Shared fixtures: every test runs with its own empty data dir (JOBC_HOME), beside a
local registry that holds the images the examples name.

Property tests and fuzzers draw a fixed set of cases (hypothesis's `derandomize`), so a
run passes or fails the same way on every machine and `main` stays green for what it
is; `JOBC_HYPOTHESIS=explore` draws new cases each run, to look for what they miss."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from compiler.store import Store, open_store
from tests import localpostgres
from tests.localpostgres import LocalPostgres
from tests.localregistry import LocalRegistry, running

settings.register_profile("fixed", derandomize=True)
settings.register_profile("explore", derandomize=False)
_PROFILE = os.environ.get("JOBC_HYPOTHESIS", "fixed")
if _PROFILE not in ("fixed", "explore"):
    raise pytest.UsageError(f"JOBC_HYPOTHESIS is {_PROFILE!r}: say `fixed` or `explore`")
settings.load_profile(_PROFILE)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CASES = Path(__file__).resolve().parent / "cases"
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def jobc_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, private JOBC_HOME for each test."""
    home = tmp_path_factory.mktemp("jobc-home")
    monkeypatch.setenv("JOBC_HOME", str(home))
    return home


@pytest.fixture(scope="session", autouse=True)
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """Debian's docker-registry on 127.0.0.1, holding the images the examples name, for
    the whole session; `CONTAINERS_REGISTRIES_CONF` maps docker.io, gcr.io, ghcr.io,
    quay.io and localhost:5000 onto it, so specs resolve real names with no internet
    (in this process and in the `jobc` processes tests start)."""
    with running(tmp_path_factory.mktemp("registry")) as registry:
        conf = registry.registries_conf(registry.root / "registries.conf")
        # Module- and session-scoped fixtures run before `jobc_home`: give them a data
        # dir of their own too, never the developer's (its image cache would answer).
        env = {
            "CONTAINERS_REGISTRIES_CONF": str(conf),
            "JOBC_HOME": str(tmp_path_factory.mktemp("jobc-home-session")),
        }
        previous = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield registry
        finally:
            for k, v in previous.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """Debian's PostgreSQL 15 on 127.0.0.1, started on first use for the whole session (as
    `nobody` when we are root) and stopped after it. Each test gets a schema of its own."""
    if not localpostgres.available():
        pytest.fail(
            f"PostgreSQL is not installed ({localpostgres.BIN}): run `make setup`", pytrace=False
        )
    with localpostgres.running() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a test's store is: a SQLite file, then a PostgreSQL schema (the same test
    runs against both backends)."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.sqlite")
        return
    cluster: LocalPostgres = request.getfixturevalue("postgres")
    url = cluster.create_schema()
    yield url
    cluster.drop_schema(url)


@pytest.fixture
def store(store_location: str) -> Iterator[Store]:
    """An empty store on each backend."""
    s = open_store(store_location)
    yield s
    s.close()


@pytest.fixture
def home_store(jobc_home: Path) -> Iterator[Store]:
    """The data dir's store: the one `jobc` commands and compiles use by default."""
    s = open_store()
    yield s
    s.close()
