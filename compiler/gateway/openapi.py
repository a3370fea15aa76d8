"""The OpenAPI 3.1 document of the gateway's own API (`GET /jobc/v1/openapi.json`)."""

from __future__ import annotations

import functools
from typing import Any

from compiler.gateway.problems import KINDS, MEDIA_TYPE

_CID = {"type": "string", "pattern": "^b[a-z2-7]+$", "description": "A CIDv1, base32."}
_LINK = {
    "type": "object",
    "required": ["/"],
    "properties": {"/": _CID},
    "additionalProperties": False,
    "description": "A CID in DAG-JSON form.",
}
_DIAGNOSTIC = {
    "type": "object",
    "required": ["severity", "message"],
    "properties": {
        "severity": {"enum": ["error", "warning", "note"]},
        "message": {"type": "string"},
        "code": {"type": "string"},
        "file": {"type": "string"},
        "line": {"type": "integer", "minimum": 1},
        "column": {"type": "integer", "minimum": 1},
        "pointer": {"type": "string", "description": "JSON pointer into the document."},
        "hint": {"type": "string"},
    },
}
_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details, with Bacalhau's APIError members beside them.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "/jobc/v1/problems/<kind>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}},
        "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}},
        "Status": {"type": "integer"},
        "Message": {"type": "string"},
        "Code": {"type": "string"},
        "Component": {"type": "string"},
        "Hint": {"type": "string"},
    },
}
_COMPILED = {
    "type": "object",
    "description": "A compiled document (`jobc compile`'s output; its JSON Schema is "
    "schemas/compiled-1.schema.json).",
    "required": ["compiled", "cid", "original", "document", "job", "pinned", "chain"],
    "properties": {
        "compiled": {"const": 1},
        "cid": {"$ref": "#/components/schemas/Link"},
        "original": {"$ref": "#/components/schemas/Link"},
        "document": {"type": "object"},
        "job": {"type": "object"},
        "pinned": {"type": "boolean"},
        "chain": {"type": "array", "items": {"type": "object"}},
    },
}
_COMPILE_RESULT = {
    "type": "object",
    "required": ["cid", "original", "format", "pinned", "compiled", "diagnostics"],
    "properties": {
        "cid": _CID,
        "original": _CID,
        "format": {"type": "string", "description": "The format read, e.g. jobspec/1."},
        "pinned": {"type": "boolean"},
        "compiled": {"$ref": "#/components/schemas/Compiled"},
        "diagnostics": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}},
    },
}
_EXAMPLE_JOB = {
    "jobspec": 1,
    "task": {
        "engine": "wasm",
        "module": "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        "args": ["--count", "words"],
    },
    "outputs": ["/outputs"],
}
_CID_HEADERS = {
    "X-Jobc-Cid": {"description": "The final job CID.", "schema": _CID},
    "X-Jobc-Original": {"description": "The job CID right after parsing.", "schema": _CID},
}


def _param(
    name: str,
    where: str,
    description: str = "",
    *,
    required: bool = False,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A parameter (one in the path is always required)."""
    out: dict[str, Any] = {"name": name, "in": where, "required": required or where == "path"}
    if description:
        out["description"] = description
    out["schema"] = schema if schema is not None else {"type": "string"}
    return out


def _json(schema: str) -> dict[str, Any]:
    """A JSON body of the component schema named `schema`."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _problems(*kinds: str) -> dict[str, Any]:
    """Responses for these problem kinds, by status (kinds sharing one are listed together)."""
    by_status: dict[str, list[str]] = {}
    for kind in kinds:
        by_status.setdefault(str(KINDS[kind].status), []).append(kind)
    return {
        status: _problem("; ".join(f"{k}: {KINDS[k].title}" for k in names))
        for status, names in by_status.items()
    }


_BODY_PROBLEMS = ("body-too-large", "unsupported-encoding", "busy", "compile-timeout")


@functools.cache
def document(version: str) -> dict[str, Any]:
    """The OpenAPI document (built once per version string)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jobc gateway",
            "version": version,
            "description": "jobc's own API beside the Bacalhau API it fronts: compile any "
            "job document, health, metrics. Errors are RFC 9457 problem details.",
        },
        "paths": {
            "/jobc/v1/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the gateway and its store work.",
                    "responses": {
                        "200": {
                            "description": "It works.",
                            "content": _json("Health"),
                        },
                        "503": {
                            "description": "The store cannot be used.",
                            "content": _json("Health"),
                        },
                    },
                }
            },
            "/jobc/v1/compile": {
                "post": {
                    "operationId": "compile",
                    "summary": "Compile a job document in any format jobc reads.",
                    "description": "The body is the document (JSON or YAML, as "
                    "Content-Type says, else sniffed). It is compiled with the gateway's "
                    "policy; nothing is forwarded.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {}, "example": _EXAMPLE_JOB},
                            "application/yaml": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The compiled job.",
                            "headers": _CID_HEADERS,
                            "content": _json("CompileResult"),
                        },
                        **_problems("invalid-job", *_BODY_PROBLEMS),
                    },
                }
            },
            "/jobc/v1/problems/{kind}": {
                "get": {
                    "operationId": "problemType",
                    "summary": "What a problem type means.",
                    "parameters": [_param("kind", "path")],
                    "responses": {
                        "200": {
                            "description": "The problem type.",
                            "content": _json("ProblemType"),
                        },
                        **_problems("not-found"),
                    },
                }
            },
            "/jobc/v1/jobs/{cid}": {
                "get": {
                    "operationId": "job",
                    "summary": "The chains through a CID, the receipts and aliases of the final "
                    "jobs they lead to.",
                    "parameters": [
                        _param(
                            "cid",
                            "path",
                            "Any CID on a chain: a document, an original, "
                            "an intermediate or a final job.",
                        )
                    ],
                    "responses": {
                        "200": {"description": "The chains.", "content": _json("Job")},
                        **_problems("bad-request", "not-found"),
                    },
                }
            },
            "/jobc/v1/find": {
                "get": {
                    "operationId": "find",
                    "summary": "The final jobs a spec led to, with their receipts.",
                    "description": "The spec (any format jobc reads) is compiled offline with "
                    "the gateway's policy and caches; the chain index says where its chain "
                    "led, here or wherever it was stored and imported from.",
                    "parameters": [
                        _param(
                            "spec",
                            "query",
                            "The document itself.",
                            required=True,
                            schema={"type": "string", "minLength": 1},
                        )
                    ],
                    "responses": {
                        "200": {"description": "What was found.", "content": _json("Found")},
                        **_problems("bad-request", "invalid-job", "body-too-large"),
                    },
                }
            },
            "/jobc/v1/admin/disown": {
                "post": {
                    "operationId": "disown",
                    "summary": "Stop following the records a pass version made (`jobc disown`).",
                    "security": [{"bearer": []}],
                    "parameters": [
                        _param(
                            "pass", "query", "PASS@VERSION, e.g. resolve-images@1.", required=True
                        ),
                        _param("reason", "query"),
                    ],
                    "responses": {
                        "200": {"description": "What it affected.", "content": _json("Disowned")},
                        **_problems("bad-request", "unauthorized", "admin-disabled"),
                    },
                }
            },
            "/jobc/v1/admin/cache/purge": {
                "post": {
                    "operationId": "purgeCache",
                    "summary": "Empty the store's caches (image resolutions, file hashes).",
                    "security": [{"bearer": []}],
                    "parameters": [
                        _param(
                            "namespace", "query", "Only this cache (e.g. `image`); all when absent."
                        )
                    ],
                    "responses": {
                        "200": {
                            "description": "How many entries went.",
                            "content": _json("Purged"),
                        },
                        **_problems("unauthorized", "admin-disabled"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (text exposition format).",
                    "responses": {
                        "200": {
                            "description": "The metrics.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/jobc/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Link": _LINK,
                "Diagnostic": _DIAGNOSTIC,
                "Problem": _PROBLEM,
                "ProblemType": {
                    "type": "object",
                    "required": ["type", "title", "status", "description"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "description": {"type": "string"},
                    },
                },
                "Compiled": _COMPILED,
                "CompileResult": _COMPILE_RESULT,
                "Health": {
                    "type": "object",
                    "required": ["status", "version"],
                    "properties": {
                        "status": {"enum": ["ok", "failing"]},
                        "version": {"type": "string"},
                        "store": {"type": "string"},
                        "upstream": {"type": ["string", "null"]},
                        "memo": {"enum": ["on", "off", "header-only"]},
                    },
                },
                "Job": {
                    "type": "object",
                    "required": ["cid", "kind", "finals", "backward", "forward", "receipts"],
                    "properties": {
                        "cid": _CID,
                        "kind": {"enum": ["document", "original", "job", "final"]},
                        "finals": {"type": "array", "items": _CID},
                        "backward": {"type": "object"},
                        "forward": {"type": "object"},
                        "receipts": {
                            "type": "object",
                            "description": "By final job CID.",
                            "additionalProperties": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Receipt"},
                            },
                        },
                        "aliases": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["namespace", "name", "job"],
                                "properties": {
                                    "namespace": {"type": "string"},
                                    "name": {"type": "string"},
                                    "job": _CID,
                                },
                            },
                        },
                    },
                },
                "Receipt": {
                    "type": "object",
                    "required": ["cid", "node", "exit", "trusted"],
                    "properties": {
                        "cid": _CID,
                        "node": {"type": "string"},
                        "exit": {"type": "integer"},
                        "outputs": {"type": "object", "additionalProperties": _CID},
                        "trusted": {"type": "boolean"},
                    },
                },
                "Found": {
                    "type": "object",
                    "required": ["document", "original", "compiled", "pinned", "found"],
                    "properties": {
                        "document": _CID,
                        "original": _CID,
                        "compiled": _CID,
                        "pinned": {"type": "boolean"},
                        "found": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["cid", "via", "receipts"],
                                "properties": {
                                    "cid": _CID,
                                    "via": _CID,
                                    "receipts": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Receipt"},
                                    },
                                },
                            },
                        },
                    },
                },
                "Disowned": {
                    "type": "object",
                    "required": ["pass", "version", "records", "current"],
                    "properties": {
                        "pass": {"type": "string"},
                        "version": {"type": "integer"},
                        "records": {"type": "integer", "minimum": 0},
                        "current": {"type": "boolean"},
                    },
                },
                "Purged": {
                    "type": "object",
                    "required": ["purged"],
                    "properties": {
                        "purged": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Entries of the store's caches removed.",
                        },
                        "namespace": {"type": ["string", "null"]},
                        "compiles": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Compiles kept for reuse, forgotten.",
                        },
                    },
                },
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
