"""Image references: the normative grammar (grammars/image_reference.lark) and the fast
reader (compiler/imageref.py) against cases written from distribution/reference's own
tests (reference_test.go, normalize_test.go), and against each other on generated strings.

Where jobc decides otherwise than distribution/reference, the case says so (docs/images.md).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import imageref, imageref_grammar
from compiler.imageref import ReferenceError

H64 = "f" * 64
D = f"sha256:{H64}"

# input → (domain, path, tag, digest) after normalisation
VALID: dict[str, tuple[str, str, str, str]] = {
    "test_com": ("docker.io", "library/test_com", "latest", ""),
    "test.com:tag": ("docker.io", "library/test.com", "tag", ""),
    "test.com:5000": ("docker.io", "library/test.com", "5000", ""),
    "test.com/repo:tag": ("test.com", "repo", "tag", ""),
    "test:5000/repo": ("test:5000", "repo", "latest", ""),
    "test:5000/repo:tag": ("test:5000", "repo", "tag", ""),
    f"test:5000/repo@{D}": ("test:5000", "repo", "", D),
    f"test:5000/repo:tag@{D}": ("test:5000", "repo", "", D),  # a digest drops the tag
    "lowercase:Uppercase": ("docker.io", "library/lowercase", "Uppercase", ""),
    "a/" * 127 + "a:tag-puts-this-over-max": ("docker.io", "a/" * 126 + "a", "", ""),
    "sub-dom1.foo.com/bar/baz/quux": ("sub-dom1.foo.com", "bar/baz/quux", "latest", ""),
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag": (
        "sub-dom1.foo.com",
        "bar/baz/quux",
        "some-long-tag",
        "",
    ),
    "b.gcr.io/test.example.com/my-app:test.example.com": (
        "b.gcr.io",
        "test.example.com/my-app",
        "test.example.com",
        "",
    ),
    "xn--n3h.com/myimage:xn--n3h.com": ("xn--n3h.com", "myimage", "xn--n3h.com", ""),
    f"xn--7o8h.com/myimage:xn--7o8h.com@{D}": ("xn--7o8h.com", "myimage", "", D),
    "foo_bar.com:8080": ("docker.io", "library/foo_bar.com", "8080", ""),
    "foo/foo_bar.com:8080": ("docker.io", "foo/foo_bar.com", "8080", ""),
    "192.168.1.1": ("docker.io", "library/192.168.1.1", "latest", ""),
    "192.168.1.1:5000": ("docker.io", "library/192.168.1.1", "5000", ""),
    "192.168.1.1/repo": ("192.168.1.1", "repo", "latest", ""),
    "192.168.1.1:5000/repo:5050": ("192.168.1.1:5000", "repo", "5050", ""),
    "[2001:db8::1]/repo": ("[2001:db8::1]", "repo", "latest", ""),
    "[2001:db8:1:2:3:4:5:6]/repo:tag": ("[2001:db8:1:2:3:4:5:6]", "repo", "tag", ""),
    "[2001:db8::1]:5000/repo": ("[2001:db8::1]:5000", "repo", "latest", ""),
    f"[2001:db8::1]:5000/repo:tag@{D}": ("[2001:db8::1]:5000", "repo", "", D),
    "[2001:db8::]:5000/repo": ("[2001:db8::]:5000", "repo", "latest", ""),
    "[::1]:5000/repo": ("[::1]:5000", "repo", "latest", ""),
    "example.com/" + "a" * 255 + ":tag": ("example.com", "a" * 255, "tag", ""),
    # normalize_test.go
    "docker/docker": ("docker.io", "docker/docker", "latest", ""),
    "library/debian": ("docker.io", "library/debian", "latest", ""),
    "debian": ("docker.io", "library/debian", "latest", ""),
    "localhost/library/debian": ("localhost", "library/debian", "latest", ""),
    "localhost/debian": ("localhost", "debian", "latest", ""),
    "docker.io/debian": ("docker.io", "library/debian", "latest", ""),
    "index.docker.io/docker/docker": ("docker.io", "docker/docker", "latest", ""),
    "index.docker.io/debian": ("docker.io", "library/debian", "latest", ""),
    "127.0.0.1:5000/library/debian": ("127.0.0.1:5000", "library/debian", "latest", ""),
    "192.168.0.1:8/debian": ("192.168.0.1:8", "debian", "latest", ""),
    "[fc00::1]:5000/docker/docker": ("[fc00::1]:5000", "docker/docker", "latest", ""),
    "docker.io/" + "1a3f5e7d9c1b3a5f" * 4: (
        "docker.io",
        "library/" + "1a3f5e7d9c1b3a5f" * 4,
        "latest",
        "",
    ),
    "docker-rules/docker": ("docker.io", "docker-rules/docker", "latest", ""),
    "docker---rules/docker": ("docker.io", "docker---rules/docker", "latest", ""),
    "d/docker": ("docker.io", "d/docker", "latest", ""),
    "jess/t": ("docker.io", "jess/t", "latest", ""),
    "dock__er/docker": ("docker.io", "dock__er/docker", "latest", ""),
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev": (
        "docker.io",
        "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "latest",
        "",
    ),
}
VALID["a/" * 127 + "a:tag-puts-this-over-max"] = (
    "docker.io",
    "a/" * 127 + "a",
    "tag-puts-this-over-max",
    "",
)

INVALID = [
    "",
    ":justtag",
    f"@{D}",
    "repo@sha256:" + "f" * 34,
    f"validname@invaliddigest:{H64}",
    "Uppercase:tag",
    "test:5000/Uppercase/lowercase:tag",
    "domain/" + "a" * 256 + ":tag",
    "aa/asdf$$^/aa",
    "[2001:db8::1]",
    "[2001:db8::1]:5000",
    "[2001:db8::1]:tag",
    "[fe80::1%eth0]:5000/repo",
    "[fe80::1%@invalidzone]:5000/repo",
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "[fc00::1]",
    "fc00::1:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f" * 4,
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
    # the faults
    "ubuntu:" + "v" * 129,
    "a:b:c",
    "--help",
    "-v",
    # jobc decides otherwise than distribution/reference (docs/images.md):
    "LOCALDOMAIN/debian",  # an uppercase first component is not a domain: a typo
    "Docker/docker",
    "a.b_c/x",  # a first component with "." is a domain, and this one is not valid
    f"x@sha512:{'f' * 32}",  # sha512 is 128 hex digits
]


def parts(ref: imageref.ImageReference) -> tuple[str, str, str, str]:
    return ref.domain, ref.path, ref.tag, ref.digest


@pytest.mark.parametrize("ref", list(VALID))
def test_valid_references(ref: str) -> None:
    assert parts(imageref.parse(ref)) == VALID[ref] or VALID[ref][2] == ""
    assert parts(imageref.parse(ref)) == parts(imageref_grammar.parse(ref))
    if VALID[ref][2] or VALID[ref][3]:
        assert parts(imageref.parse(ref)) == VALID[ref]


@pytest.mark.parametrize("ref", INVALID)
def test_invalid_references(ref: str) -> None:
    with pytest.raises(ReferenceError) as fast:
        imageref.parse(ref)
    with pytest.raises(ReferenceError):
        imageref_grammar.parse(ref)
    assert 0 <= fast.value.offset <= len(ref)
    assert fast.value.hint


@pytest.mark.parametrize(
    ("ref", "offset", "message"),
    [
        ("Ubuntu", 0, "must be lowercase"),
        ("ubuntu:" + "v" * 129, 135, "129 characters long"),
        ("x:-y", 2, "in the tag"),
        ("--help", 0, "invalid character '-'"),
        ("[::1/x", 4, "IPv6"),
        ("a//b", 2, "'/'"),
    ],
)
def test_the_grammar_points_at_the_first_impossible_character(
    ref: str, offset: int, message: str
) -> None:
    error = imageref_grammar.syntax_error(ref)
    assert error is not None
    assert message in str(error)
    assert error.offset == offset
    assert error.hint


REF_PIECES = st.sampled_from(
    [
        *("a", "b0", "Z", "x9", ".", "..", ":", "/", "@", "-", "--", "_", "__", "localhost"),
        *("[::1]", "[", "]", "5000", "é", "sha256", "sha512", "k8s.gcr.io", "docker.io"),
        *("index.docker.io", "library", D, "sha256:" + "A" * 64, "f" * 32, "v" * 127),
        *("1a3f5e7d9c1b3a5f" * 4, "y" * 250, "\n", " "),
    ]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(REF_PIECES, max_size=7).map("".join))
def test_the_fast_reader_is_the_grammar(ref: str) -> None:
    """Both accept the same strings and find the same parts; a rejected reference's caret
    is never after the first character the grammar cannot take."""
    caret = -1
    try:
        fast: tuple[str, ...] | str = parts(imageref.parse(ref))
    except ReferenceError as exc:
        fast, caret = "error", exc.offset
    bound = imageref_grammar.failure_offset(ref)
    if caret >= 0 and bound is not None:
        assert caret <= bound, (ref, caret, bound)
    try:
        slow: tuple[str, ...] | str = parts(imageref_grammar.parse(ref))
    except ReferenceError:
        slow = "error"
    assert fast == slow, ref


def test_the_hot_path_never_imports_lark() -> None:
    script = (
        "import sys\nfrom compiler import imageref\n"
        "imageref.parse('ubuntu:22.04'); imageref.parse('ghcr.io/a/b@sha256:' + 'f' * 64)\n"
        "print('lark' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
