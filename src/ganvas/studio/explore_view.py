"""The Explore view: a seed grid to pin seeds from, interpolation, style mixing, projection.

Every image is rendered by the studio's warm generators through :mod:`ganvas.render`, so the
``ganvas generate`` command shown beside a pinned image writes the same pixels.
"""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr
import numpy as np

from ganvas.errors import GanvasError
from ganvas.render import parse_seeds
from ganvas.studio.studio import GeneratorFacts, Studio
from ganvas.studio.ui import displayable, friendly, gallery, output_image
from ganvas.studio.warm import Z_TRUNCATION_OFF, Settings

GRID_SEEDS = 16     # a 4x4 page of seeds
MAX_PINNED = 8
PROJECT_STEPS = 200


class Cancelled(Exception):
    """The user pressed Stop during a projection."""


def truncation_of(value: float | None, facts: GeneratorFacts) -> float | None:
    """The slider's value as ``--trunc``: None at the slider's "off" end."""
    if value is None:
        return None
    if facts.space == "w":
        return None if value >= 1.0 else float(value)
    return None if value >= Z_TRUNCATION_OFF else float(value)


def truncation_slider(facts: GeneratorFacts) -> Any:
    """psi in [0, 1] for w (1: none); a threshold in σ for z (4: off)."""
    if facts.space == "w":
        return gr.update(minimum=0.0, maximum=1.0, value=1.0, step=0.05,
                         label="truncation ψ (1 = none)")
    return gr.update(minimum=0.25, maximum=Z_TRUNCATION_OFF, value=Z_TRUNCATION_OFF,
                     step=0.05, label=f"truncation: redraw z beyond ±ψ σ ({Z_TRUNCATION_OFF:g} "
                     "= off)")


def parse_pinned(text: str | None) -> list[int]:
    text = (text or "").replace(" ", "").strip(",")
    return parse_seeds(text) if text else []


class ExploreView:
    """Widgets of the Explore tab (built where it is created) and their handlers."""

    def __init__(self, studio: Studio, run_choice: gr.Dropdown, snapshot: gr.Dropdown):
        self.studio, self.run_choice, self.snapshot = studio, run_choice, snapshot
        self.stop_flags: dict[str, threading.Event] = {}
        self.pins: dict[str, list[int]] = {}  # pinned seeds per browser session
        with gr.Row():
            self.truncation = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="truncation",
                                        elem_id="truncation", scale=3)
            self.weights = gr.Radio(["EMA", "raw"], value="EMA", label="generator",
                                    elem_id="weights", scale=1)
            self.class_choice = gr.Dropdown([], label="class", visible=False,
                                            elem_id="class-choice", scale=1)
            self.first_seed = gr.Number(0, precision=0, minimum=0, label="first seed",
                                        elem_id="first-seed", scale=1)
        with gr.Row():
            self.previous = gr.Button("◀ previous 16", size="sm")
            self.next = gr.Button("next 16 ▶", size="sm", elem_id="next-seeds")
        self.grid = gallery(label="click an image to pin its seed", columns=8,
                            allow_preview=False, elem_id="seed-grid")
        self._pinned_row()
        self._walk_part()
        self._mix_part()
        self._project_part()

    def _pinned_row(self) -> None:
        with gr.Row():
            self.pinned = gr.Textbox(label="pinned seeds (click the grid, or type)",
                                     elem_id="pinned", scale=3)
            self.clear = gr.Button("clear pins", size="sm", scale=1)
        with gr.Row():
            self.chosen = output_image("last pinned", elem_id="pinned-image", height=256)
            with gr.Column():
                self.command = gr.Textbox(label="reproduce it", buttons=["copy"],
                                          interactive=False, elem_id="command")
                self.download = gr.File(label="PNG (seed and settings in its text chunk)",
                                        interactive=False, elem_id="download-png")

    def _walk_part(self) -> None:
        with gr.Accordion("Interpolation between pinned seeds", open=False):
            self.position = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="position",
                                      elem_id="position")
            self.between = output_image("between", height=256, elem_id="between")
            with gr.Row():
                self.frames = gr.Number(30, precision=0, minimum=2, maximum=240,
                                        label="frames per pair")
                self.video_format = gr.Radio(["gif", "mp4"], value="gif", label="format")
                self.export = gr.Button("export video")
            self.video = gr.File(label="video", interactive=False)

    def _mix_part(self) -> None:
        with gr.Accordion("Style mixing (StyleGAN2): first pinned seed, styles from the "
                          "second", open=False, visible=False) as self.mix_part:
            with gr.Row():
                self.mix_from = gr.Slider(0, 13, value=0, step=1, label="from layer")
                self.mix_to = gr.Slider(0, 13, value=6, step=1, label="to layer")
            self.mixed = gallery(label="first · second · mixed", columns=3)

    def _project_part(self) -> None:
        with gr.Accordion("Project a photo", open=False):
            with gr.Row():
                self.photo = gr.Image(type="filepath", sources=["upload"], label="photo",
                                      height=256, elem_id="photo")
                self.projected = output_image("projected", height=256, elem_id="projected")
            with gr.Row():
                self.steps = gr.Slider(10, 1000, value=PROJECT_STEPS, step=10, label="steps")
                self.project_button = gr.Button("project", variant="primary")
                self.stop = gr.Button("stop")
            self.latent_file = gr.File(label="latent (.npz, for generate --latents)",
                                       interactive=False)

    # -- wiring --------------------------------------------------------------------------
    def wire(self, blocks: gr.Blocks) -> None:
        look = [self.run_choice, self.snapshot, self.truncation, self.weights,
                self.class_choice]
        setup_outputs = [self.truncation, self.class_choice, self.mix_part, self.mix_from,
                         self.mix_to, self.grid]
        blocks.load(self.setup, [self.run_choice, self.snapshot], setup_outputs)
        self.run_choice.change(self.setup, [self.run_choice], setup_outputs)
        self.snapshot.change(self.setup, [self.run_choice, self.snapshot], setup_outputs)
        for control in (self.truncation.change, self.weights.change, self.class_choice.change,
                        self.first_seed.submit):
            control(self.show_grid, [*look, self.first_seed], self.grid,
                    trigger_mode="always_last")
        self.previous.click(lambda s: max(0, int(s or 0) - GRID_SEEDS), self.first_seed,
                            self.first_seed).then(self.show_grid, [*look, self.first_seed],
                                                  self.grid)
        self.next.click(lambda s: int(s or 0) + GRID_SEEDS, self.first_seed,
                        self.first_seed).then(self.show_grid, [*look, self.first_seed],
                                              self.grid)
        pin_outputs = [self.pinned, self.chosen, self.command, self.download]
        between_inputs = [*look, self.pinned, self.position]
        self.grid.select(self.pin, [*look, self.first_seed, self.pinned], pin_outputs,
                         trigger_mode="multiple").then(
            self.show_between, between_inputs, self.between)
        self.pinned.submit(self.show_pinned, [*look, self.pinned], pin_outputs).then(
            self.show_between, between_inputs, self.between)
        self.clear.click(self.clear_pins, None, pin_outputs)
        self.position.change(self.show_between, between_inputs, self.between,
                             trigger_mode="always_last")
        self.export.click(self.export_video, [*look, self.pinned, self.frames,
                                              self.video_format], self.video)
        for control in (self.mix_from.release, self.mix_to.release):
            control(self.show_mix, [*look, self.pinned, self.mix_from, self.mix_to],
                    self.mixed, trigger_mode="always_last")
        self.project_button.click(self.project, [self.run_choice, self.snapshot, self.photo,
                                                 self.steps],
                                  [self.projected, self.latent_file])
        self.stop.click(self.stop_projection, None, None, queue=False)

    # -- handlers ------------------------------------------------------------------------
    def _settings(self, run_id: str, snapshot: str, truncation: float, weights: str,
                  class_name: str | None, seed: int) -> tuple[Settings, GeneratorFacts]:
        if not run_id:
            raise GanvasError("no run chosen")
        spec = self.studio.spec(run_id, snapshot)
        facts = self.studio.facts(spec)
        return Settings(run=spec, seed=int(seed), truncation=truncation_of(truncation, facts),
                        ema=weights != "raw",
                        class_name=class_name if facts.classes else None), facts

    def _render(self, settings: Settings, seeds: list[int]) -> np.ndarray:
        return self.studio.generators.seeds(settings.run, seeds, settings.truncation,
                                            settings.ema, settings.class_name)


    @friendly
    def setup(self, run_id: str | None, snapshot: str | None = "latest") -> tuple:
        """Controls that fit the run's generator, and its first page of seeds."""
        if not run_id:
            return (gr.skip(),) * 6
        facts = self.studio.facts(self.studio.spec(run_id, snapshot))
        classes = gr.update(choices=facts.classes, value=facts.classes[0] if facts.classes
                            else None, visible=bool(facts.classes))
        last = max(facts.num_ws - 1, 1)  # a slider needs min < max
        settings = Settings(run=self.studio.spec(run_id, snapshot), seed=0,
                            class_name=facts.classes[0] if facts.classes else None)
        images = displayable(self._render(settings, list(range(GRID_SEEDS))))
        grid = [(image, f"seed {s}") for s, image in enumerate(images)]
        return (truncation_slider(facts), classes, gr.update(visible=facts.space == "w"),
                gr.update(maximum=last, value=0), gr.update(maximum=last, value=min(6, last)),
                grid)

    @friendly
    def show_grid(self, run_id: str, snapshot: str, truncation: float, weights: str,
                  class_name: str | None, first: float | None) -> list:
        first = max(0, int(first or 0))
        settings, _ = self._settings(run_id, snapshot, truncation, weights, class_name, first)
        seeds = list(range(first, first + GRID_SEEDS))
        images = displayable(self._render(settings, seeds))
        return [(image, f"seed {s}") for s, image in zip(seeds, images)]

    def _show_seed(self, settings: Settings, pinned: list[int]) -> tuple:
        image = self._render(settings, [settings.seed])[0]
        path = self.studio.image_file(image, settings)
        return (", ".join(map(str, pinned)), displayable(image), settings.command(),
                str(path))

    @friendly
    def pin(self, run_id: str, snapshot: str, truncation: float, weights: str,
            class_name: str | None, first: float | None, pinned_text: str,
            event: gr.SelectData, request: gr.Request) -> tuple:
        """Pin the clicked image's seed (the last pinned is shown with its command).

        The pins live here, per browser session: clicks in quick succession each see the
        ones before, which the textbox's value, read when a click is sent, may not show yet."""
        index = event.index if isinstance(event.index, int) else 0
        seed = max(0, int(first or 0)) + index
        session = request.session_hash or ""
        known = self.pins.get(session, parse_pinned(pinned_text))
        pinned = ([s for s in known if s != seed] + [seed])[-MAX_PINNED:]
        self.pins[session] = pinned
        settings, _ = self._settings(run_id, snapshot, truncation, weights, class_name, seed)
        return self._show_seed(settings, pinned)

    @friendly
    def show_pinned(self, run_id: str, snapshot: str, truncation: float, weights: str,
                    class_name: str | None, pinned_text: str, request: gr.Request) -> tuple:
        pinned = parse_pinned(pinned_text)[-MAX_PINNED:]
        self.pins[request.session_hash or ""] = pinned
        if not pinned:
            return "", None, "", None
        settings, _ = self._settings(run_id, snapshot, truncation, weights, class_name,
                                     pinned[-1])
        return self._show_seed(settings, pinned)

    @friendly
    def show_between(self, run_id: str, snapshot: str, truncation: float, weights: str,
                     class_name: str | None, pinned_text: str,
                     position: float) -> np.ndarray | None:
        """The image at ``position`` of the walk through the pinned seeds (none until two)."""
        if len(parse_pinned(pinned_text)) < 2:
            return None
        settings, _ = self._settings(run_id, snapshot, truncation, weights, class_name, 0)
        return displayable(self.studio.generators.between(
            settings.run, parse_pinned(pinned_text), [float(position)], settings.truncation,
            settings.ema, settings.class_name)[0])

    @friendly
    def export_video(self, run_id: str, snapshot: str, truncation: float, weights: str,
                     class_name: str | None, pinned_text: str, frames: float | None,
                     video_format: str) -> str:
        settings, _ = self._settings(run_id, snapshot, truncation, weights, class_name, 0)
        seeds = parse_pinned(pinned_text)
        video = self.studio.generators.walk_video(settings.run, seeds, int(frames or 30),
                                                  settings.truncation, settings.ema,
                                                  settings.class_name)
        name = "walk-" + "-".join(map(str, seeds)) + f".{video_format}"
        return str(self.studio.video_file(video, name))

    @friendly
    def show_mix(self, run_id: str, snapshot: str, truncation: float, weights: str,
                 class_name: str | None, pinned_text: str, first_layer: float,
                 last_layer: float) -> list:
        pinned = parse_pinned(pinned_text)
        if len(pinned) < 2:
            raise GanvasError("style mixing: pin two seeds (the first gives the image, the "
                              "second the styles)")
        settings, _ = self._settings(run_id, snapshot, truncation, weights, class_name, 0)
        images = self.studio.generators.mix(settings.run, pinned[0], pinned[1],
                                            (int(first_layer), int(last_layer)),
                                            settings.truncation, settings.ema)
        return list(zip(displayable(images), [f"seed {pinned[0]}", f"seed {pinned[1]}",
                                              "mixed"]))

    @friendly
    def project(self, run_id: str, snapshot: str, photo: str | None, steps: float,
                request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
        """Project the uploaded photo, with a progress bar; Stop cancels between steps."""
        if not photo:
            raise GanvasError("upload a photo to project first")
        stop = self.stop_flags.setdefault(request.session_hash or "", threading.Event())
        stop.clear()
        total = int(steps)

        def on_step(step: int) -> None:
            progress((step, total), desc="projecting", unit="steps")
            if stop.is_set():
                raise Cancelled

        spec = self.studio.spec(run_id, snapshot)
        try:
            image, latent = self.studio.project(spec, photo, total, on_step)
        except Cancelled:
            raise gr.Error("projection stopped") from None
        return displayable(image), str(latent)

    def clear_pins(self, request: gr.Request) -> tuple:
        self.pins.pop(request.session_hash or "", None)
        return "", None, "", None

    def stop_projection(self, request: gr.Request) -> None:
        self.stop_flags.setdefault(request.session_hash or "", threading.Event()).set()
