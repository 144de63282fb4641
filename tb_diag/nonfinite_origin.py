"""Where a NaN/Inf event started, read from its recorded counts: shared by both sides.

The training side words its warning with ``describe_event``; the viewer derives the origin with
``locate`` (never trusting one written in the log) from documents ``clean_event`` reduced to
well-typed fields. No TensorFlow here: the viewer and any training backend import it.

The origin: the first model input with a NaN/Inf; else the first layer call, in call order, whose
inputs were finite and whose output was not; else the loss; else, going backwards from the loss,
the first layer whose gradients were non-finite; else the first layer whose weights the update
made non-finite.
"""

from __future__ import annotations

import math
from typing import Any

from tb_diag.vocabulary import NAN_ACTIONS, NAN_PHASES


def clean_event(document: Any) -> dict | None:
    """An event document from the log (untrusted) reduced to well-typed fields, or ``None``."""
    if not isinstance(document, dict) or not is_int(document.get("step")):
        return None
    phase = document.get("phase")
    action = document.get("action")
    return {
        "step": int(document["step"]),
        "epoch": int(document["epoch"]) if is_int(document.get("epoch")) else None,
        "phase": phase if phase in NAN_PHASES else "unknown",
        "on_nan": str(document.get("on_nan"))[:16],
        "action": action if action in NAN_ACTIONS else "unknown",
        "weights_kept": document.get("weights_kept") is True,
        "loss": _float(document.get("loss")),
        "loss_seen": document.get("loss_seen") is not False,
        "inputs": [
            {"name": str(entry.get("name")), **_stats(entry)} for entry in _dicts(document.get("inputs"))
        ],
        "calls": [
            {
                "name": str(entry.get("name")),
                "layer": str(entry.get("layer")),
                "in": _stats(entry.get("in")),
                "out": _stats(entry.get("out")),
            }
            for entry in _dicts(document.get("calls"))
        ],
        "layers": [
            {"layer": str(entry.get("layer")), "grad": _stats(entry.get("grad")), "weights": _stats(entry.get("weights"))}
            for entry in _dicts(document.get("layers"))
        ],
    }


def locate(event: dict) -> dict:
    """Where the event started: ``{"phase", "layer", "contaminated": [...], "contaminated_gradients":
    [...], "between": [a, b] | None}``.

    ``layer`` is the input name (input), the layer call (forward), ``None`` (loss) or the layer path
    (backward, update). ``contaminated`` lists what was non-finite downstream of the origin in the
    direction the values flowed (later calls forward; earlier layers backward);
    ``contaminated_gradients`` the layers whose gradients it made non-finite. ``between`` names,
    for the backward phase, the layer call after the origin (the non-finite derivative arose between
    the two).
    """
    where = _locate(event)
    where["contaminated_gradients"] = [] if event["phase"] in ("backward", "update") else _bad_layers(event, "grad")
    return where


def _locate(event: dict) -> dict:
    phase = event["phase"]
    bad_calls = [call["name"] for call in event["calls"] if _bad(call["out"])]
    if phase == "input":
        bad_inputs = [entry["name"] for entry in event["inputs"] if _bad(entry)]
        return {"phase": phase, "layer": bad_inputs[0] if bad_inputs else None, "contaminated": bad_inputs[1:] + bad_calls, "between": None}
    if phase == "forward":
        origin = next((call for call in event["calls"] if _bad(call["out"]) and not _bad(call["in"])), None)
        if origin is None:
            origin = next((call for call in event["calls"] if _bad(call["out"])), None)
        if origin is None:
            return {"phase": phase, "layer": None, "contaminated": [], "between": None}
        later = [call["name"] for call in event["calls"][event["calls"].index(origin) + 1 :] if _bad(call["out"])]
        return {"phase": phase, "layer": origin["name"], "contaminated": later, "between": None}
    if phase == "loss":
        return {"phase": phase, "layer": None, "contaminated": [], "between": None}
    if phase == "backward":
        # Gradients flow from the loss backwards: the origin is the bad layer called last.
        order = _call_order(event)
        bad = sorted(_bad_layers(event, "grad"), key=lambda layer: order.get(layer, -1), reverse=True)
        if not bad:
            return {"phase": phase, "layer": None, "contaminated": [], "between": None}
        origin = bad[0]
        after = [call["name"] for call in event["calls"] if order.get(call["layer"], -1) > order.get(origin, -1)]
        return {"phase": phase, "layer": origin, "contaminated": bad[1:], "between": [origin, after[0]] if after else None}
    if phase == "update":
        bad = _bad_layers(event, "weights")
        return {"phase": phase, "layer": bad[0] if bad else None, "contaminated": bad[1:], "between": None}
    return {"phase": phase, "layer": None, "contaminated": [], "between": None}


def describe_event(event: dict) -> str:
    """One sentence: what went non-finite where, at which step, and what tb_diag did."""
    event = clean_event(event)
    if event is None:
        return "non-finite values appeared"
    where = locate(event)
    phase = event["phase"]
    place = {
        "input": f"in the input batch ('{where['layer']}')",
        "forward": f"in the forward pass, first in layer '{where['layer']}'",
        "loss": "in the loss (the model's outputs were finite)",
        "backward": f"in the backward pass, first in the gradients of '{where['layer']}'",
        "update": f"in the update: it would have made the weights of '{where['layer']}' non-finite"
        if event["weights_kept"]
        else f"in the update: the weights of '{where['layer']}' became non-finite",
    }.get(phase, "")
    step = event["step"]
    action = {
        "stopped": f"the update was not applied, so the weights are those after step {step - 1}"
        if event["weights_kept"]
        else "training stopped, but the non-finite weights had already been written",
        "skipped": "its update was skipped",
        "recorded": "the update was applied",
    }.get(event["action"], "")
    return f"non-finite values at step {step} {place}; {action}".rstrip("; ")


def _bad(stats: dict) -> bool:
    return bool(stats["nan"] or stats["posinf"] or stats["neginf"])


def _bad_layers(event: dict, kind: str) -> list[str]:
    return [entry["layer"] for entry in event["layers"] if _bad(entry[kind])]


def _call_order(event: dict) -> dict[str, int]:
    """Layer path -> the index of its first call; layers owning weights map to the call of the same path."""
    order: dict[str, int] = {}
    for index, call in enumerate(event["calls"]):
        order.setdefault(call["layer"], index)
    for index, entry in enumerate(event["layers"]):
        if entry["layer"] not in order:
            # A layer owning weights without a call of its own path (e.g. inside an RNN): model order.
            order[entry["layer"]] = max((v for k, v in order.items() if entry["layer"].startswith(k + "/")), default=index)
    return order


def _stats(raw: Any) -> dict:
    raw = raw if isinstance(raw, dict) else {}
    stats = {key: int(raw[key]) if is_int(raw.get(key)) and raw[key] >= 0 else 0 for key in ("nan", "posinf", "neginf")}
    stats["max_abs"] = _float(raw.get("max_abs"))
    return stats


def _dicts(value: Any) -> list[dict]:
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None
