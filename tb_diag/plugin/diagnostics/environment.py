"""Environment card, viewer side: the card of a run, mismatches between runs, and its finding."""

from __future__ import annotations

import json
from typing import Any

from tb_diag import schema
from tb_diag.plugin.diagnostics import model_check
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData

FAMILY = schema.ENVIRONMENT
# Card fields compared between runs, in the order they are shown.
COMPARED = (
    "python", "tensorflow", "keras", "platform", "cuda", "gpus", "mixed_precision", "optimizer", "batch_size",
    "jit_compile", "steps_per_execution", "distribution", "seed", "op_determinism", "model",
)
# What to change for runs that can be reproduced (shown with ``not_reproducible``).
REMEDY = (
    "For runs you can reproduce and compare: call keras.utils.set_random_seed(seed) before building the "
    "model (it seeds Python, NumPy and TensorFlow), and tf.config.experimental.enable_op_determinism() "
    "for bit-identical kernels (slower on GPU)."
)


def card(run: RunData) -> dict | None:
    """The newest environment card of the run (a JSON object from the log: untrusted, shown as text)."""
    return run.document_at(FAMILY.name)


def summarize(run: RunData) -> dict | None:
    """The card itself (the report's ``environment``)."""
    return card(run)


def find(run: RunData) -> list[Finding]:
    """The model check's findings (``model_check``: the model and its ``compile``, read at the
    start of ``fit``). Whether a run can be reproduced matters when runs are compared, so it is
    said there (``not_reproducible``, the report's ``not_reproducible``), not on every run."""
    return model_check.find(card(run))


def not_reproducible(current: dict | None) -> str | None:
    """Why a run with this card cannot be reproduced exactly ("no global random seed was set and op
    determinism is off"), or ``None`` if it can (or there is no card)."""
    if not isinstance(current, dict):
        return None
    missing = []
    if current.get("seed") is None:
        missing.append("no global random seed was set")
    if current.get("op_determinism") is not True:
        missing.append("op determinism is off")
    return " and ".join(missing) or None


def layer_classes(run: RunData) -> dict[str, str]:
    """``{layer path: class name}`` from the run's environment card (empty without one)."""
    current = card(run)
    return {entry["path"]: entry["class"] for entry in _layers(current.get("model") if isinstance(current, dict) else None)}


def comparable(value: Any) -> str:
    """A field's value as compared and shown: JSON text (the model by name, class and parameters)."""
    if isinstance(value, dict) and "layers" in value:
        value = {key: value.get(key) for key in ("name", "class", "params", "trainable_params")}
    return json.dumps(value, sort_keys=True, default=str)


def compare_runs(runs: list[RunData]) -> dict:
    """The report document's cross-run keys: ``environment_mismatches`` (``{field: {run: value}}``)
    and ``not_reproducible`` (``{run: why}``, filled only when several runs have a card: that is
    when chance can pass for a difference between them)."""
    cards = {run.run: card(run) for run in runs}
    compared = [run for run, found in cards.items() if found is not None]
    reasons = {run: not_reproducible(cards[run]) for run in compared} if len(compared) >= 2 else {}
    return {
        "environment_mismatches": mismatches(cards),
        "not_reproducible": {run: why for run, why in reasons.items() if why},
    }


def mismatches(cards: dict[str, dict | None]) -> dict[str, dict[str, str]]:
    """``{field: {run: value}}`` for the fields whose values differ between the runs that have a card."""
    present = {run: c for run, c in cards.items() if isinstance(c, dict)}
    if len(present) < 2:
        return {}
    differing = {}
    for field in COMPARED:
        values = {run: comparable(c.get(field)) for run, c in present.items()}
        if len(set(values.values())) > 1:
            differing[field] = values
    return differing


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """The Environment panel's data: the card's compared fields as text, in order, and why the run
    cannot be reproduced exactly (``not_reproducible``, ``None`` if it can) with what to change."""
    current = card(run)
    if current is None:
        return None
    return {
        "run": run.run,
        "fields": [{"field": field, "value": comparable(current.get(field))} for field in COMPARED],
        "model_layers": _layers(current.get("model")),
        "not_reproducible": not_reproducible(current),
        "reproducibility_remedy": REMEDY,
        "warnings": list(run.warnings),
    }


def _layers(model: Any) -> list[dict]:
    layers = model.get("layers") if isinstance(model, dict) else None
    return [
        {key: str(entry.get(key)) for key in ("path", "class", "output_shape", "params")}
        for entry in (layers if isinstance(layers, list) else [])
        if isinstance(entry, dict)
    ]


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line for the report and the Overview: versions, optimizer, batch, compilation, seed."""
    if not summary:
        return None
    optimizer = summary.get("optimizer")
    return (
        f"TensorFlow {summary.get('tensorflow')}, Keras {summary.get('keras')}, Python {summary.get('python')}; "
        f"optimizer {optimizer.get('class') if isinstance(optimizer, dict) else None}; batch {summary.get('batch_size')}; "
        f"jit_compile {summary.get('jit_compile')}; mixed precision {summary.get('mixed_precision')}; "
        f"{len(summary.get('gpus') or [])} GPU(s); seed {summary.get('seed')}"
    )
