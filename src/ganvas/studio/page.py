"""The studio's page (Gradio): the Runs, Run and Compare views, and the page around them.

Widgets only: every handler asks :class:`~ganvas.studio.studio.Studio` and turns its answer
into component values; a user mistake shows as Gradio's one-line error (:func:`friendly`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image

from ganvas.studio.catalog import COLUMNS, signature, state_word
from ganvas.studio.explore_view import ExploreView
from ganvas.studio.studio import Studio
from ganvas.studio.ui import friendly, gallery, output_image
from ganvas.studio.watch import thumbnail

REFRESH_SECONDS = 2.0   # how often an open page asks whether a run changed
THUMBNAIL_SIDE = 192
CSS = """
#seed-grid .thumbnail-item { cursor: pointer; }
.grid-wrap.fixed-height { height: auto !important; max-height: none !important; }
#pinned-image img, #between img, #projected img { width: 100%; height: 100%; object-fit: contain; }
.log textarea { font-family: ui-monospace, monospace; font-size: 12px; }
"""


class Page:
    """The Blocks of one studio and their handlers."""

    def __init__(self, studio: Studio):
        self.studio = studio

    # -- building ------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        ids = self.studio.run_ids()
        with gr.Blocks(title="ganvas studio", analytics_enabled=False) as blocks:
            gr.Markdown("## ganvas studio")
            with gr.Row():
                self.run_choice = gr.Dropdown(ids, value=ids[-1] if ids else None, label="Run",
                                              elem_id="run-choice", scale=3)
                self.snapshot = gr.Dropdown(["latest"], value="latest", label="Snapshot",
                                            elem_id="snapshot", scale=1)
            with gr.Tabs() as self.tabs:
                with gr.Tab("Runs", id="runs"):
                    self._runs_tab()
                with gr.Tab("Run", id="run"):
                    self._run_tab()
                with gr.Tab("Explore", id="explore"):
                    self.explore = ExploreView(self.studio, self.run_choice, self.snapshot)
                with gr.Tab("Compare", id="compare"):
                    self._compare_tab(ids)
            self.timer = gr.Timer(REFRESH_SECONDS)
            self.marks = gr.State(None)
            self._wire(blocks)
        return blocks

    def _runs_tab(self) -> None:
        gr.Markdown("Every run under the folders given to `ganvas studio`; it refreshes by "
                    "itself. Click a grid to open that run.")
        self.runs_gallery = gallery(label="latest sample grids", columns=4,
                                    allow_preview=False, elem_id="runs-gallery")
        self.runs_table = gr.Dataframe(headers=list(COLUMNS), interactive=False,
                                       elem_id="runs-table", wrap=True)

    def _run_tab(self) -> None:
        self.run_summary = gr.Markdown(elem_id="run-summary")
        with gr.Row():
            self.latest_grid = output_image("latest fixed-noise grid", elem_id="latest-grid")
            self.charts = gallery(label="curves", columns=2, elem_id="run-charts")
        self.strip = gallery(label="evolution (same noise over training)", columns=8,
                             allow_preview=True)
        with gr.Row():
            self.log_tail = gr.Textbox(label="log.txt (tail)", lines=14, max_lines=14,
                                       interactive=False, elem_classes="log",
                                       elem_id="log-tail", autoscroll=True)
            self.options = gr.Code(label="resolved options (config.json)", language="json",
                                   interactive=False, max_lines=14)
        self.report = gr.DownloadButton("report.html", visible=False, elem_id="report")

    def _compare_tab(self, ids: list[str]) -> None:
        gr.Markdown("Pick two or more runs: their grids at the same kimg, overlaid curves, and "
                    "the settings that differ.")
        with gr.Row():
            self.compare_runs = gr.Dropdown(ids, value=ids[-2:] if len(ids) >= 2 else ids,
                                            multiselect=True, label="Runs", scale=3,
                                            elem_id="compare-runs")
            self.compare_kimg = gr.Dropdown(["latest"], value="latest", label="grids at kimg",
                                            scale=1, elem_id="compare-kimg")
        self.compare_grids = gallery(label="grids", columns=3)
        self.compare_table = gr.Dataframe(interactive=False, wrap=True, label="settings")
        self.compare_charts = gallery(label="curves", columns=3)

    def _wire(self, blocks: gr.Blocks) -> None:
        run_outputs = [self.run_summary, self.latest_grid, self.strip, self.charts,
                       self.log_tail, self.options, self.report]
        runs_outputs = [self.runs_gallery, self.runs_table]
        blocks.load(self.show_runs, None, runs_outputs)
        self.run_choice.change(self.snapshots_of, self.run_choice, self.snapshot).then(
            self.show_run, self.run_choice, run_outputs)
        blocks.load(self.show_run, self.run_choice, run_outputs)
        self.explore.wire(blocks)
        self.timer.tick(self.refresh, [self.run_choice, self.marks],
                        [self.marks, *runs_outputs, self.run_choice, self.compare_runs,
                         *run_outputs, self.snapshot])
        self.runs_gallery.select(self.open_run, None, [self.run_choice, self.tabs])
        compare_inputs = [self.compare_runs, self.compare_kimg]
        compare_outputs = [self.compare_grids, self.compare_table, self.compare_charts]
        for trigger in (self.compare_runs.change, self.compare_kimg.change, self.tabs.select):
            trigger(self.compare, compare_inputs, [*compare_outputs, self.compare_kimg])

    # -- Runs view -----------------------------------------------------------------------
    @friendly
    def show_runs(self) -> tuple[list, list[list]]:
        rows = self.studio.rows()
        pictures = [(thumbnail(r.latest_grid, THUMBNAIL_SIDE), f"{r.id} · {r.state}")
                    for r in rows]
        return pictures, [r.cells() for r in rows]

    def open_run(self, event: gr.SelectData) -> tuple[Any, Any]:
        ids = self.studio.run_ids()
        index = event.index if isinstance(event.index, int) else 0
        return gr.update(value=ids[index], choices=ids), gr.Tabs(selected="run")

    # -- Run view ------------------------------------------------------------------------
    @friendly
    def snapshots_of(self, run_id: str | None) -> Any:
        if not run_id:
            return gr.update(choices=["latest"], value="latest")
        choices = self.studio.watcher.picture(self.studio.folders.run(run_id)).snapshots
        return gr.update(choices=choices or ["latest"], value="latest")

    @friendly
    def show_run(self, run_id: str | None) -> tuple:
        if not run_id:
            return ("No runs yet: train one with `ganvas train`.", None, [], [], "", "",
                    gr.update(visible=False))
        run_dir = self.studio.folders.run(run_id)
        shown = self.studio.watcher.picture(run_dir)
        row = self.studio.catalog.row(next(r for r in self.studio.folders.runs()
                                           if r.id == run_id))
        lines = [f"**{run_id}**: {row.state}, {row.model} at {row.resolution or '?'} px on "
                 f"{row.data}; {row.cells()[5]} kimg, best FID {row.cells()[6]}, "
                 f"{row.cells()[7]} images/s"]
        lines += [f"- ⚠ {w}" for w in shown.warnings]
        grid = Image.open(shown.latest_grid).convert("RGB") if shown.latest_grid else None
        report = gr.update(value=str(shown.report), visible=True) if shown.report \
            else gr.update(visible=False)
        return ("\n".join(lines), grid, shown.strip, shown.charts, shown.log_tail,
                shown.options, report)

    def refresh(self, run_id: str | None, marks: Any) -> tuple:
        """What changed since the page last looked: only that is sent again."""
        refs = self.studio.folders.runs()
        runs_mark = tuple((r.id, state_word(r.path), signature(r.path)) for r in refs)
        run_mark = next((m for m in runs_mark if m[0] == run_id), None)
        old_runs, old_run = marks if marks else (None, None)
        if runs_mark != old_runs:  # a run started, stopped or wrote: the lists follow
            ids = [r.id for r in refs]
            runs_part = (*self.show_runs(), gr.update(choices=ids), gr.update(choices=ids))
        else:
            runs_part = (gr.skip(),) * 4
        if run_mark != old_run:
            run_part = (*self.show_run(run_id), self._snapshot_choices(run_id))
        else:
            run_part = (gr.skip(),) * 8
        return ((runs_mark, run_mark), *runs_part, *run_part)

    def _snapshot_choices(self, run_id: str | None) -> Any:
        """The snapshot picker's choices now (its value is left alone)."""
        if not run_id:
            return gr.skip()
        return gr.update(choices=self.studio.watcher.picture(
            self.studio.folders.run(run_id)).snapshots or ["latest"])

    # -- Compare view --------------------------------------------------------------------
    @friendly
    def compare(self, run_ids: list[str] | None, kimg: str | None) -> tuple:
        run_ids = list(run_ids or [])
        if not run_ids:
            return [], None, [], gr.update(choices=["latest"], value="latest")
        headers, rows, charts = self.studio.comparison(run_ids)
        steps = sorted({k for r in run_ids for k, _ in self.studio.load(r).fakes})
        choices = ["latest", *(f"{k:g}" for k in steps)]
        kimg = kimg if kimg in choices else "latest"
        at = (steps[-1] if steps else 0) if kimg == "latest" else float(kimg)
        return (self.studio.grids_at(run_ids, at), gr.update(value=rows, headers=headers),
                charts, gr.update(choices=choices, value=kimg))
