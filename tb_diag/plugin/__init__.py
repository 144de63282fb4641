"""Viewer side: the TensorBoard plugin, the data reader and the findings engine (no TensorFlow)."""
