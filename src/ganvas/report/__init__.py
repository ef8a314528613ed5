"""Looking at runs: the HTML report, run comparisons and a TensorBoard writer.

This package only reads run folders (it never imports the training loop), so the loop can call
:func:`write_run_report` at the end of a run without an import cycle.
"""

from __future__ import annotations

from ganvas.report.document import write_report, write_run_report

__all__ = ["write_report", "write_run_report"]
