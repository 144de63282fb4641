"""The payload contracts (``tb_diag/plugin/schemas/<route>.schema.json``), checked on the server's
side: a route's answer, as TensorBoard sends it, must match its route's JSON Schema, the same
schema the tab's types and validators are generated from (``frontend/scripts/contracts.mjs``).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from tensorboard.backend import json_util

SCHEMAS = os.path.join(os.path.dirname(__file__), "..", "tb_diag", "plugin", "schemas")


@functools.lru_cache(maxsize=None)
def schemas() -> dict[str, dict]:
    """Every schema file by name (``gradients`` for ``gradients.schema.json``)."""
    found = {}
    for name in sorted(os.listdir(SCHEMAS)):
        if name.endswith(".schema.json"):
            with open(os.path.join(SCHEMAS, name), encoding="utf-8") as f:
                found[name[: -len(".schema.json")]] = json.load(f)
    return found


def routes() -> list[str]:
    """The routes that have a payload contract: a schema that describes a payload has a top-level
    ``type``; a shared one (``common``, ``vocabulary``) only holds ``$defs`` (the same rule as
    ``routesOf`` in frontend/scripts/contracts.mjs)."""
    return [name for name, schema in schemas().items() if "type" in schema]


@functools.lru_cache(maxsize=None)
def validator(route: str) -> Draft202012Validator:
    registry = Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in schemas().values())
    return Draft202012Validator(schemas()[route], registry=registry)


def as_sent(payload: Any) -> Any:
    """``payload`` as the tab receives it: TensorBoard's JSON, non-finite floats as strings."""
    return json.loads(json.dumps(json_util.Cleanse(payload), allow_nan=False))


def contract_errors(route: str, body: Any) -> list[str]:
    """Where ``body`` (as sent) breaks ``route``'s contract, as ``path: message`` lines."""
    errors = sorted(validator(route).iter_errors(body), key=lambda error: list(map(str, error.absolute_path)))
    return [f"{'.'.join(map(str, error.absolute_path)) or '(body)'}: {error.message[:300]}" for error in errors]


def assert_matches_contract(route: str, payload: Any) -> None:
    """Fails with every breach listed when ``payload`` (a route's answer, or what ``panel_payload``
    returned) does not match ``route``'s schema."""
    errors = contract_errors(route, as_sent(payload))
    assert not errors, f"the {route} payload breaks tb_diag/plugin/schemas/{route}.schema.json:\n" + "\n".join(errors[:20])
