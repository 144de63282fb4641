"""TensorBoard entry point for the Diagnostics tab.

Kept import-light on purpose: an import error in an entry-point module stops TensorBoard from
starting at all, so the plugin module is imported only when TensorBoard asks for the plugin.
"""

from tensorboard.plugins import base_plugin

# numpy + TensorBoard protos only: as safe to import as TensorBoard itself.
from tb_diag.schema import PLUGIN_NAME


class DiagnosticsLoader(base_plugin.TBLoader):
    """Loads the plugin and sets flags it relies on, unless the user set them."""

    def fix_flags(self, flags):
        """Keeps every tb_diag event (each holds a block of steps) and polls every event file."""
        samples = getattr(flags, "samples_per_plugin", None)
        if isinstance(samples, dict) and PLUGIN_NAME not in samples:
            samples[PLUGIN_NAME] = 0  # 0 = keep all events for this plugin
        # tb_diag writes its own event file next to Keras' TensorBoard callback; without this the
        # Python loader would only poll the newest file of a run for new data.
        if getattr(flags, "reload_multifile", False) is None:
            flags.reload_multifile = True

    def load(self, context):
        """Creates the plugin."""
        from tb_diag.plugin.plugin import DiagnosticsPlugin

        return DiagnosticsPlugin(context)
