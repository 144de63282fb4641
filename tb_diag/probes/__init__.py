"""Training-side probes, one module per diagnostic. ``PROBES`` is the registry the callback uses."""

from tb_diag.probes.base import Probe
from tb_diag.probes.gradients import GradientsProbe

PROBES: dict[str, type[Probe]] = {probe.name: probe for probe in (GradientsProbe,)}
