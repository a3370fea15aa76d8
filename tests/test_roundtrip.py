"""Round trips through every format jobc writes, property-tested both ways.

IR → spoke → IR: a generated job (with meta and execution) written by a format's
emitter and read back by its front-end is the same job — same identity once normalized,
same execution options, same names (`tests/roundtrip.py`). spoke → IR → spoke: the
document read back and written again is the same text (an emitted document is the
format's normal form, a fixed point). The quick tests run a few hundred cases each;
the slow ones (`-m slow`, `make test`) 10,000 per format.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from compiler.diagnostics import SpecError
from compiler.emitters import JobDoc
from compiler.frontends.jobfile import format_jobfile
from tests.roundtrip import assert_same, doc_of, emit, job_docs, read_back

TARGETS = ("jobspec/2", "jobspec/1", "bacalhau", "homestar", "jobfile")


def check(target: str, doc: JobDoc) -> bool:
    """Both round trips for one job; False when the target refuses the job."""
    try:
        written = emit(target, doc)
    except SpecError as exc:
        codes = [d.code for d in exc.errors]
        if codes != ["inexpressible"]:
            raise
        return False
    back = read_back(written, target)
    assert_same(doc, back, target)  # IR → spoke → IR
    assert emit(target, doc_of(back)).text == written.text  # spoke → IR → spoke
    if target == "jobfile":  # what the emitter writes is what `jobc fmt` prints
        assert format_jobfile("Jobfile", written.text) == written.text
    return True


def run(target: str, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(job_docs(target))
    def round_trip(doc: JobDoc) -> None:
        check(target, doc)

    round_trip()


@pytest.mark.parametrize("target", TARGETS)
def test_round_trip(target: str) -> None:
    run(target, 150)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_round_trip_10k(target: str) -> None:
    run(target, 10_000)


def test_refusals_are_diagnostics() -> None:
    """What a format cannot say and cannot stash is refused with one diagnostic."""
    from compiler.ir import DockerTask, FrozenMap, Job, Link, WasmTask
    from tests.roundtrip import CIDS

    docker = JobDoc("", Job(task=DockerTask(image="ubuntu")), {"name": "d"}, {})
    assert not check("homestar", docker)
    unordered = JobDoc(
        "", Job(task=DockerTask(image="ubuntu"), determinism="unordered"), {"name": "u"}, {}
    )
    assert not check("jobspec/1", unordered)
    assert check("jobspec/2", unordered)
    assert check("bacalhau", unordered)
    assert check("jobfile", unordered)
    wasm = Job(task=WasmTask(module=Link.parse(CIDS[0]), args=(1, "a")))
    assert not check("jobfile", JobDoc("", wasm, {"name": "w"}, {}))
    nested = Job(task=DockerTask(image="ubuntu"), x=FrozenMap({"k": FrozenMap({"a": 1})}))
    assert not check("jobfile", JobDoc("", nested, {"name": "n"}, {}))
