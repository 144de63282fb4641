"""Eager training, viewer side: what ``run_eagerly=True`` costs, from the eager probe's measurement."""

from __future__ import annotations

from tb_diag import schema
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData, finite_number

FAMILY = schema.EAGER

# Eager forward passes this many times slower than traced ones are worth a warning (below, running
# eagerly costs too little to change anything for).
EAGER_SLOWDOWN_WARN = 1.5

REMEDY = (
    "Remove run_eagerly=True from compile() (keep it for debugging with print or pdb only): Keras then "
    "traces the train step once into a tf.function graph and every step runs without Python. To look "
    "inside a traced step, use tf.print, or jit_compile=False to leave XLA out."
)
TRACE_REMEDY = (
    "Make the model traceable, then remove run_eagerly=True: use keras.ops / tf ops instead of NumPy and "
    ".numpy() on tensors, tf.cond / keras.ops.cond instead of Python `if` on tensor values, and build "
    "variables in build() rather than in call()."
)


def measurement(run: RunData) -> dict | None:
    """The eager probe's last document, with its numbers checked (``None`` if absent or mistyped)."""
    document = run.document_at(FAMILY.name)
    if not isinstance(document, dict) or not _positive(document.get("eager_s")):
        return None
    traced = document.get("traced_s")
    error = document.get("trace_error")
    return {
        "eager_s": float(document["eager_s"]),
        "traced_s": float(traced) if _positive(traced) else None,
        "trace_error": error if isinstance(error, str) else None,
        "batch_size": document.get("batch_size") if isinstance(document.get("batch_size"), int) else None,
    }


def _positive(value: object) -> bool:
    return (finite_number(value) or 0.0) > 0


def summarize(run: RunData) -> dict | None:
    """``{"eager_s", "traced_s", "slowdown", "trace_error", "batch_size"}``, or ``None`` when the
    run did not train eagerly."""
    measured = measurement(run)
    if measured is None:
        return None
    slowdown = measured["eager_s"] / measured["traced_s"] if measured["traced_s"] else None
    return dict(measured, slowdown=slowdown)


def find(run: RunData) -> list[Finding]:
    """``eager_training``: see ``eager_training``."""
    return eager_training(summarize(run), _step(run))


def _step(run: RunData) -> int | None:
    documents = run.documents.get(FAMILY.name, [])
    return int(documents[-1][0]) if documents else None


def eager_training(summary: dict | None, step: int | None) -> list[Finding]:
    """A warning when the model trained eagerly and its forward pass ran ``EAGER_SLOWDOWN_WARN``
    times slower than traced, or could not be traced at all."""
    if summary is None:
        return []
    eager_ms = 1e3 * summary["eager_s"]
    if summary["trace_error"]:
        return [Finding(
            id="eager_training", severity="warning", step=step, layer=None,
            title="Training runs eagerly, and the model cannot be traced",
            detail=f"The model was compiled with run_eagerly=True: every step runs op by op in Python "
            f"({eager_ms:.3g} ms per forward pass). Tracing its forward pass into a tf.function failed with "
            f"“{summary['trace_error']}”, which is why it has to run eagerly.",
            remedy=TRACE_REMEDY,
        )]
    slowdown = summary["slowdown"]
    if slowdown is None or slowdown < EAGER_SLOWDOWN_WARN:
        return []
    return [Finding(
        id="eager_training", severity="warning", step=step, layer=None,
        title=f"Training runs eagerly: the forward pass is {slowdown:.1f}× slower than traced",
        detail=f"The model was compiled with run_eagerly=True: every step runs op by op in Python. Measured on a "
        f"batch{'' if summary['batch_size'] is None else ' of ' + str(summary['batch_size'])}, the forward pass took "
        f"{eager_ms:.3g} ms eagerly and {1e3 * summary['traced_s']:.3g} ms as a traced tf.function; the backward "
        f"pass and the update pay the same per-op Python cost.",
        remedy=REMEDY,
    )]


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """No panel of its own: the measurement is in the report (``summarize``)."""
    return None


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line: how much slower the eager forward pass was."""
    if not summary:
        return None
    if summary["slowdown"] is None:
        return "ran eagerly (run_eagerly=True); the model could not be traced"
    return f"ran eagerly (run_eagerly=True): forward pass {summary['slowdown']:.1f}× slower than traced"
