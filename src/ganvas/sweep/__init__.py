"""``ganvas sweep``: train every combination of a few options, then compare them on one page
(:mod:`~ganvas.sweep.plan` the grid and jobs, :mod:`~ganvas.sweep.run` training them one by one,
:mod:`~ganvas.sweep.parallel` one per device)."""

from ganvas.sweep.plan import combinations, parse_vary, run_desc
from ganvas.sweep.run import SweepResult, run_sweep, sweep_command

__all__ = ["SweepResult", "combinations", "parse_vary", "run_desc", "run_sweep",
           "sweep_command"]
