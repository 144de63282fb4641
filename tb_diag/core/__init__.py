"""Training-side core shared by every probe: hooks, step counter, ring buffers, writer."""
