"""Rewriting a submitted Bacalhau job (compiler/gateway/rewrite.py) on real Bacalhau JSON
(`tests/cases/gateway/`: a `PutJobRequest` as Bacalhau's CLI serialises it, and one with
keys in other cases, as Bacalhau's Go decoder accepts them), compiled by the Bacalhau
front-end against the local registry."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest

from compiler.driver import Compiled, CompileOptions, compile_bytes
from compiler.gateway import GatewayConfig, rewrite
from compiler.gateway.compiling import GatewayCompiler
from compiler.gateway.metrics import Metrics
from compiler.gateway.middleware import forwarded_body
from compiler.gateway.problems import Problem
from compiler.ir import DockerTask, ImageDigest
from tests.conftest import CASES
from tests.localregistry import LocalRegistry


def body(name: str) -> Any:
    return json.loads((CASES / "gateway" / name).read_text())


def compiled(data: Any, **config: Any) -> Compiled:
    """A real compile of a submission body, with a gateway's policy."""
    compiler = GatewayCompiler(GatewayConfig(**config), Metrics())
    try:
        return compiler.compile_now(json.dumps(data).encode(), "<submission>", "json")
    finally:
        compiler.close()


def compiled_for(image: str, **options: Any) -> Compiled:
    """A real compile of a Bacalhau job running `image`."""
    data = body("put-job.json")
    data["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] = image
    return compiled(data, **options)


def test_the_forwarded_job_differs_only_in_its_image_and_meta(
    local_registry: LocalRegistry,
) -> None:
    original = body("put-job.json")
    before = copy.deepcopy(original)
    c = compiled(original)
    assert c.format == "bacalhau/job"
    assert c.document_pointer("/task/image") == "/Job/Tasks/0/Engine/Params/Image"
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    assert isinstance(c.job.task, DockerTask)
    assert c.job.task.image == ImageDigest(digest)

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
    c = compiled(original)
    assert c.document_pointer("/task/image") == "/job/tasks/0/engine/params/image"
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
    c = compiled(original)
    out = rewrite.pin_image(original, c)
    assert out["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] == (
        f"docker.io/library/ubuntu@{digest}"
    )


def test_an_image_left_unpinned_stays_as_written() -> None:
    original = body("put-job.json")
    c = compiled(original, offline=True)  # empty cache: stays a tag
    assert isinstance(c.job.task, DockerTask)
    assert c.job.task.image == "docker.io/library/ubuntu:22.04"
    out = rewrite.rewrite_submission(original, c)
    assert out["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] == "ubuntu:22.04"
    assert out["Job"]["Meta"]["jobc.cid"] == str(c.cid)


def test_a_job_with_no_image_is_only_stamped() -> None:
    module = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    original = {
        "Job": {
            "Type": "batch",
            "Tasks": [
                {
                    "Name": "main",
                    "Engine": {"Type": "wasm", "Params": {"EntryModule": "/app/main.wasm"}},
                    "InputSources": [
                        {
                            "Target": "/app/main.wasm",
                            "Source": {"Type": "ipfs", "Params": {"CID": module}},
                        }
                    ],
                }
            ],
        }
    }
    c = compiled(original)
    out = rewrite.rewrite_submission(original, c)
    assert out["Job"]["Tasks"] == original["Job"]["Tasks"]
    assert out["Job"]["Meta"] == {"jobc.cid": str(c.cid), "jobc.original": str(c.original)}


def test_forwarding_again_keeps_the_final_cid(local_registry: LocalRegistry) -> None:
    """The forwarded job names its image by digest: compiled again (a second gateway),
    it is the same job, with the first gateway's stamps replaced, not read."""
    first = compiled(body("put-job.json"))
    forwarded = rewrite.rewrite_submission(body("put-job.json"), first)
    again = compiled(forwarded)
    assert again.cid == first.cid
    assert again.original != first.original  # it was written by digest this time
    assert rewrite.rewrite_submission(forwarded, again)["Job"]["Meta"]["jobc.original"] == str(
        again.original
    )


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
    spec = b'{"jobspec": 1, "task": {"engine": "docker", "image": "ubuntu:22.04"}}'
    c = compile_bytes(spec, "job.json", CompileOptions(offline=True))
    with pytest.raises(Problem) as caught:
        forwarded_body(raw, c)
    assert caught.value.kind == "not-a-submission"
    assert "jobspec/1" in caught.value.detail
