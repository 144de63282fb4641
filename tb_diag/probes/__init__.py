"""Training-side probes, one module per diagnostic. ``PROBES`` is the registry the callback uses."""

from tb_diag.probes.activations import ActivationsProbe
from tb_diag.probes.base import Probe
from tb_diag.probes.callbacks import CallbacksProbe
from tb_diag.probes.eager import EagerProbe
from tb_diag.probes.environment import EnvironmentProbe
from tb_diag.probes.epochs import EpochsProbe
from tb_diag.probes.gradients import GradientsProbe
from tb_diag.probes.input import InputProbe
from tb_diag.probes.memory import MemoryProbe
from tb_diag.probes.nonfinite import NonfiniteProbe
from tb_diag.probes.stateful import StatefulProbe

PROBES: dict[str, type[Probe]] = {
    probe.name: probe
    for probe in (GradientsProbe, NonfiniteProbe, InputProbe, ActivationsProbe, MemoryProbe, EnvironmentProbe, EpochsProbe,
                  CallbacksProbe, EagerProbe, StatefulProbe)
}
