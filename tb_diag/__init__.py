"""tb_diag: training diagnostics for Keras, shown in TensorBoard's "Diagnostics" tab.

``DiagnosticsCallback`` (training side) needs TensorFlow and Keras; it is imported lazily so that
the viewer side (``tb_diag.plugin``, ``tb_diag.cli``, ``tb_diag.show``) works with TensorBoard alone.
"""

__version__ = "0.1.0"
__all__ = ["DiagnosticsCallback", "DiagnosticsWarning", "show"]


def __getattr__(name: str):
    if name == "show":
        from tb_diag.notebook import show

        return show
    if name in __all__:
        from tb_diag import callback

        return getattr(callback, name)
    raise AttributeError(f"module 'tb_diag' has no attribute {name!r}")
