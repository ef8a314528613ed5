"""Latent arithmetic (Radford et al. 2016, figure 7): "smiling woman - woman + man".

Single samples are noisy, so the paper averages the latents of a few images that share a concept
before adding and subtracting them; ``mean(...)`` does exactly that. The expression language is
in :mod:`ganvas.explore.expression`; this module evaluates it in the generator's latent space
(z for DCGAN, w for StyleGAN2) and writes the result and the paper-style figure.

In a conditional run, seeds are drawn in the class ``--class`` names, and ``class(NAME)`` is a
class's direction: in z, the class's one-hot part alone (so ``12 - class(cat) + class(dog)`` is
seed 12 drawn as a dog); in w, the mean w of the class over ``CLASS_SEEDS`` seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganvas.errors import GanvasError
from ganvas.explore.expression import (
    ClassTerm,
    LatentFile,
    Mean,
    Node,
    Scaled,
    Seed,
    Sum,
    parse,
)
from ganvas.explore.figure import Panel, draw_figure
from ganvas.render import LatentSpace
from ganvas.utils.classes import parse_classes
from ganvas.utils.io import save_image, writable_folder

CLASS_SEEDS = 100  # seeds averaged for a class's direction in w


@dataclass
class Term:
    """One column of the figure: the operator before it, its member latents and its value."""

    operator: str
    members: list[tuple[str, torch.Tensor]]
    value: tuple[str, torch.Tensor] | None  # None when the term is a single seed or file


class Evaluator:
    """Turns expression trees into latents (1×shape) of one :class:`LatentSpace`."""

    def __init__(self, space: LatentSpace, class_names: list[str] | None = None,
                 seed_class: int | None = None):
        self.space = space
        self.class_names = class_names or []
        self.seed_class = seed_class
        self._files: dict[str, tuple[torch.Tensor, list[str]]] = {}

    def seeds(self, seeds: list[int]) -> torch.Tensor:
        """The seeds' latents, in ``--class`` for a conditional run."""
        classes = None if self.seed_class is None else [self.seed_class] * len(seeds)
        return self.space.from_seeds(seeds, classes)

    def class_direction(self, name: str) -> torch.Tensor:
        if not self.space.num_classes:
            raise GanvasError(f"class({name}): this run is unconditional (trained without "
                              "--cond)")
        k = parse_classes(name, self.class_names, f"class({name})")[0]
        if self.space.space == "w":
            seeds = list(range(CLASS_SEEDS))
            return self.space.from_seeds(seeds, [k] * len(seeds)).mean(0, keepdim=True)
        latent = torch.zeros(1, *self.space.shape)
        latent[0, self.space.shape[0] - self.space.num_classes + k] = 1.0
        return latent

    def file(self, path: str) -> tuple[torch.Tensor, list[str]]:
        if path not in self._files:
            self._files[path] = self.space.load(path)
        return self._files[path]

    def value(self, node: Node) -> torch.Tensor:
        if isinstance(node, Seed):
            return self.seeds([node.seed])
        if isinstance(node, Mean):
            return self.seeds(node.seeds).mean(0, keepdim=True)
        if isinstance(node, ClassTerm):
            return self.class_direction(node.name)
        if isinstance(node, LatentFile):
            return self.file(node.path)[0].mean(0, keepdim=True)
        if isinstance(node, Scaled):
            return node.factor * self.value(node.operand)
        if isinstance(node, Sum):
            return sum((sign * self.value(term) for sign, term in node.terms),
                       torch.zeros(1, *self.space.shape))
        raise TypeError(f"not an expression node: {node!r}")

    def leaves(self, node: Node) -> list[tuple[str, torch.Tensor]]:
        """The seeds and saved latents an expression is made of, labelled."""
        if isinstance(node, Seed):
            return [(f"seed {node.seed}", self.value(node))]
        if isinstance(node, Mean):
            latents = self.seeds(node.seeds)
            return [(f"seed {s}", latents[i:i + 1]) for i, s in enumerate(node.seeds)]
        if isinstance(node, ClassTerm):
            return [(f"class {node.name}", self.value(node))]
        if isinstance(node, LatentFile):
            latents, labels = self.file(node.path)
            return [(label, latents[i:i + 1]) for i, label in enumerate(labels)]
        if isinstance(node, Scaled):
            return self.leaves(node.operand)
        if isinstance(node, Sum):
            return [leaf for _, term in node.terms for leaf in self.leaves(term)]
        raise TypeError(f"not an expression node: {node!r}")

    def term(self, operator: str, node: Node) -> Term:
        members = self.leaves(node)
        single = len(members) == 1 and isinstance(node, (Seed, LatentFile, ClassTerm))
        return Term(operator, members, None if single else (describe(node), self.value(node)))


def describe(node: Node) -> str:
    """A short caption: ``mean``, ``0.5*mean``, ``seed 12``, ``(sum)`` (ASCII: the default
    font has no ×)."""
    if isinstance(node, Seed):
        return f"seed {node.seed}"
    if isinstance(node, Mean):
        return "mean"
    if isinstance(node, LatentFile):
        return Path(node.path).stem
    if isinstance(node, ClassTerm):
        return f"class {node.name}"
    if isinstance(node, Scaled):
        return f"{node.factor:g}*{describe(node.operand)}"
    return "(sum)"


def top_terms(tree: Node) -> list[tuple[str, Node]]:
    """The figure's columns: the terms of a top-level sum with their operators (a negative
    factor becomes a minus sign), or the whole expression as one column."""
    if not isinstance(tree, Sum):
        return [("", tree)]
    terms = []
    for i, (sign, node) in enumerate(tree.terms):
        if isinstance(node, Scaled) and node.factor < 0:
            sign, node = -sign, (node.operand if node.factor == -1 else
                                 Scaled(node.column, -node.factor, node.operand))
        terms.append(("" if i == 0 and sign > 0 else "+" if sign > 0 else "-", node))
    return terms


def arithmetic(G: torch.nn.Module, expression: str, outdir: str | Path,
               truncation_psi: float | None = None, noise_mode: str | None = None,
               batch: int = 64, precision: str = "fp32",
               seed_class: str | None = None) -> dict[str, Path]:
    """Evaluate ``expression`` with generator ``G``; write ``result.png``, ``result.npz`` (for
    ``generate --latents``) and ``figure.png`` into ``outdir``. ``seed_class``: the class the
    seeds are drawn in (a conditional run)."""
    tree = parse(expression)
    space = LatentSpace(G, truncation_psi=truncation_psi, noise_mode=noise_mode, batch=batch,
                        precision=precision)
    names = list(getattr(G, "class_names", []) or [])
    cls = parse_classes(seed_class, names)[0] if seed_class is not None else None
    evaluator = Evaluator(space, names, cls)
    result = evaluator.value(tree)
    terms = [evaluator.term(op, node) for op, node in top_terms(tree)]
    outdir = writable_folder(outdir)
    panels = _render_panels(space, terms, result)
    paths = {"result": outdir / "result.png", "latent": outdir / "result.npz",
             "figure": outdir / "figure.png"}
    save_image(paths["result"], panels[-1].images[0].transpose(1, 2, 0))
    space.save(paths["latent"], result, ["result"])
    save_image(paths["figure"], draw_figure(panels))
    return paths


def _render_panels(space: LatentSpace, terms: list[Term], result: torch.Tensor) -> list[Panel]:
    """Render every image of the figure in one batched pass, then cut them into panels."""
    groups = [term.members + ([term.value] if term.value else []) for term in terms]
    groups.append([("result", result)])
    latents = torch.cat([latent for group in groups for _, latent in group])
    images = space.render(latents)
    panels, start = [], 0
    operators = [term.operator for term in terms] + ["="]
    for operator, group, term in zip(operators, groups, terms + [None]):
        block = images[start:start + len(group)]
        start += len(group)
        panels.append(Panel(operator, [label for label, _ in group], np.asarray(block),
                            has_value=term is None or term.value is not None))
    return panels
