"""Golden snapshots: readable JSON, one file per case, under `<repo>/golden/<test module>/`.

A test takes the `golden` fixture and asserts `data == golden`; the snapshot of
`test_golden.py::test_golden[docker-word-count]` is
`golden/test_golden/docker-word-count.json` (the case name is the parametrize id; an
unparametrised test uses its own name). Update
with `pytest --snapshot-update` and review the diff: a CID that changes in a golden file
is a compatibility break (STYLE.md).

Test modules import the fixture: `from tests.golden import golden  # noqa: F401`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.data import Snapshot, SnapshotCollection
from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.location import PyTestLocation
from syrupy.types import SnapshotIndex

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"


def case_name(test_location: PyTestLocation) -> str:
    """The case's name: its parametrize id, or the test's name when not parametrised."""
    callspec = getattr(test_location.item, "callspec", None)
    return str(callspec.id) if callspec is not None else test_location.methodname


class GoldenJSONExtension(JSONSnapshotExtension):
    """JSON snapshots in `golden/<test module>/<case>.json` (a second assertion: `<case>.1`).

    Snapshot *names* stay syrupy's own (`test_golden[docker-word-count]`), so its checks
    relating names to tests hold; only the file is named after the case. A file read back
    is given the name of the test that asserted it this session, else its stem. syrupy
    neither reports nor deletes a file whose case is gone: a test module checks that
    itself (see `test_no_stale_golden_files`).
    """

    _names: ClassVar[dict[str, str]] = {}
    """Snapshot file → snapshot name, for every snapshot asserted this session."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        """`<repo>/golden/<test module name>`."""
        return str(GOLDEN / test_location.basename)

    @classmethod
    def get_file_basename(cls, *, test_location: PyTestLocation, index: SnapshotIndex) -> str:
        """The case name (a second assertion in one test adds `.1`, `.2`, …)."""
        suffix = f"[{index}]" if isinstance(index, str) else (f".{index}" if index else "")
        return cls._sanitize_filename(case_name(test_location) + suffix)

    @classmethod
    def get_location(cls, *, test_location: PyTestLocation, index: SnapshotIndex) -> str:
        """The snapshot file, remembering which snapshot name it holds."""
        location = super().get_location(test_location=test_location, index=index)
        cls._names[location] = cls.get_snapshot_name(test_location=test_location, index=index)
        return location

    def read_snapshot_collection(self, *, snapshot_location: str) -> SnapshotCollection:
        """The one snapshot in a file, under the name of the test that owns it."""
        name = self._names.get(snapshot_location, Path(snapshot_location).stem)
        collection = SnapshotCollection(location=snapshot_location)
        collection.add(Snapshot(name=name))
        return collection

    @classmethod
    def matches_test_location(
        cls, *, test_location: PyTestLocation, snapshot_location: str
    ) -> bool:
        """Whether the file at `snapshot_location` holds a snapshot of this test."""
        path = Path(snapshot_location)
        if path.parent != GOLDEN / test_location.basename:
            return False
        stem = cls._snapshot_stem(path.name)
        case = cls.get_file_basename(test_location=test_location, index=0)
        return stem is not None and (stem == case or stem.startswith((f"{case}.", f"{case}[")))


@pytest.fixture
def golden(snapshot: SnapshotAssertion) -> Any:
    """A syrupy snapshot stored as `golden/<test module>/<case>.json`."""
    return snapshot.use_extension(GoldenJSONExtension)
