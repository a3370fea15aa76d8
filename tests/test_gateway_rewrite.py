"""Rewriting a submitted Bacalhau job (compiler/gateway/rewrite.py) on real Bacalhau-shaped
JSON (`tests/cases/gateway/`: a `PutJobRequest` as Bacalhau's CLI serialises it, and one
with keys in other cases, as Bacalhau's Go decoder accepts them), against what a real
compile found with the local registry.

Until the Bacalhau front-end reads these bodies itself, the compile is of the jobspec
that says the same job, and the document pointer of the image is the one that front-end
records (`/task/image` → `/Job/Tasks/0/Engine/Params/Image`)."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import orjson
import pytest

from compiler.driver import Compiled, CompileOptions, compile_bytes
from compiler.gateway import rewrite
from compiler.gateway.middleware import forwarded_body
from compiler.gateway.problems import Problem
from tests.conftest import CASES
from tests.localregistry import LocalRegistry

BACALHAU_IMAGE = "/Job/Tasks/0/Engine/Params/Image"


def body(name: str) -> Any:
    return json.loads((CASES / "gateway" / name).read_text())


def compiled_for(image: str, **options: Any) -> Compiled:
    """A real compile of a job with `image`, its image located as in a Bacalhau body."""
    spec = json.dumps({"jobspec": 1, "task": {"engine": "docker", "image": image}}).encode()
    c = compile_bytes(spec, "job.json", CompileOptions(**options))
    return dataclasses.replace(c, locations={"/task/image": BACALHAU_IMAGE})


def test_the_forwarded_job_differs_only_in_its_image_and_meta(
    local_registry: LocalRegistry,
) -> None:
    original = body("put-job.json")
    before = copy.deepcopy(original)
    c = compiled_for("ubuntu:22.04")
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    assert c.pinned

    out = rewrite.rewrite_submission(original, c)

    assert original == before  # the body given is never modified
    expected = copy.deepcopy(before)
    expected["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] = f"docker.io/library/ubuntu@{digest}"
    expected["Job"]["Meta"] = {
        "team": "genomics",
        "jobc.cid": str(c.cid),
        "jobc.original": str(c.original),
    }
    assert out == expected
    # Field order is kept too: the forwarded bytes are the client's, re-encoded.
    assert orjson.dumps(out) == orjson.dumps(expected)
    # What did not change is shared, not copied.
    assert out["Job"]["Tasks"][0]["InputSources"] is original["Job"]["Tasks"][0]["InputSources"]


def test_keys_in_any_case_are_found_as_bacalhau_finds_them(local_registry: LocalRegistry) -> None:
    original = body("put-job-any-case.json")
    c = compiled_for("ubuntu:22.04")
    out = rewrite.rewrite_submission(original, c)
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    assert out["job"]["tasks"][0]["engine"]["params"]["image"] == (
        f"docker.io/library/ubuntu@{digest}"
    )
    # `meta` was null: the stamp makes it, under the key the client used.
    assert out["job"]["meta"] == {"jobc.cid": str(c.cid), "jobc.original": str(c.original)}
    assert "Meta" not in out["job"]
    assert "Job" not in out


def test_an_image_given_by_digest_is_written_with_its_repository(
    local_registry: LocalRegistry,
) -> None:
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    original = body("put-job.json")
    original["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] = f"ubuntu:22.04@{digest}"
    c = compiled_for(f"ubuntu:22.04@{digest}")
    out = rewrite.pin_image(original, c)
    assert out["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] == (
        f"docker.io/library/ubuntu@{digest}"
    )


def test_an_image_left_unpinned_stays_as_written() -> None:
    original = body("put-job.json")
    c = compiled_for("ubuntu:22.04", offline=True)  # empty cache: stays a tag
    assert not c.pinned
    out = rewrite.rewrite_submission(original, c)
    assert out["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] == "ubuntu:22.04"
    assert out["Job"]["Meta"]["jobc.cid"] == str(c.cid)


def test_a_job_with_no_image_is_only_stamped() -> None:
    spec = b'{"jobspec": 1, "task": {"engine": "wasm", "module": "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}}'
    c = compile_bytes(spec, "job.json")
    original = {"Job": {"Type": "batch", "Tasks": [{"Engine": {"Type": "wasm"}}]}}
    out = rewrite.rewrite_submission(original, c)
    assert out["Job"]["Tasks"] == original["Job"]["Tasks"]
    assert out["Job"]["Meta"] == {"jobc.cid": str(c.cid), "jobc.original": str(c.original)}


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([], "not a JSON object"),
        ({"Jobs": {}}, "no 'Job' object"),
        ({"Job": "x"}, "no 'Job' object"),
        ({"Job": {"Meta": "x"}}, "'Meta' is not an object"),
    ],
)
def test_shapes_that_cannot_be_stamped(shape: Any, message: str) -> None:
    c = compiled_for("ubuntu:22.04", offline=True)
    with pytest.raises(rewrite.RewriteError, match=message):
        rewrite.stamp_meta(shape, c)


def test_an_image_where_the_body_has_none_is_an_error(local_registry: LocalRegistry) -> None:
    c = compiled_for("ubuntu:22.04")
    with pytest.raises(rewrite.RewriteError, match="no 'Tasks' here"):
        rewrite.pin_image({"Job": {}}, c)
    with pytest.raises(rewrite.RewriteError, match="no item '0' in a list of 0"):
        rewrite.pin_image({"Job": {"Tasks": []}}, c)


def test_json_pointers_are_unescaped() -> None:
    assert rewrite.split_pointer("") == []
    assert rewrite.split_pointer("/a~1b/c~0d/~01") == ["a/b", "c~d", "~1"]
    doc = {"a/b": [{"c~d": 1}]}
    assert rewrite.get(doc, rewrite.split_pointer("/a~1b/0/c~0d")) == 1
    assert rewrite.put(doc, ["a/b", "0", "c~d"], 2) == {"a/b": [{"c~d": 2}]}
    assert doc == {"a/b": [{"c~d": 1}]}
    with pytest.raises(rewrite.RewriteError):
        rewrite.split_pointer("a/b")


def test_only_bacalhau_jobs_are_forwarded() -> None:
    raw = (CASES / "gateway" / "put-job.json").read_bytes()
    c = compiled_for("ubuntu:22.04", offline=True)  # a jobspec/1 compile
    with pytest.raises(Problem) as caught:
        forwarded_body(raw, c)
    assert caught.value.kind == "not-a-submission"
    assert "jobspec/1" in caught.value.detail
