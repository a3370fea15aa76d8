"""Bacalhau jobs of every era, told apart by shape (keys read case-insensitively).

- `bacalhau/job`: the Job API, v1.1 (2023-08) to today: `Tasks[]` with
  `Engine{Type,Params}`, maybe inside `{Job: …}`;
- `bacalhau/job-2023`: the same with WASM as written before 2025 (`EntryModule` an
  input source rather than a path).

`docs/formats.md` maps every field to the IR, the execution options or meta.
"""

from __future__ import annotations

from typing import Any

from compiler.frontends import Options, Parsed
from compiler.frontends.loader import SourceDocument


def detect(tree: Any) -> bool:
    """Whether `tree` is a Bacalhau job of an era jobc reads."""
    from compiler.frontends.bacalhau.job import looks_like_job

    return looks_like_job(tree)


def parse(doc: SourceDocument, options: Options) -> Parsed:
    """Read a Bacalhau job of any era into the IR."""
    from compiler.frontends.bacalhau import job

    return job.parse(doc, options)
