"""Class conditioning shared by the model families: G's label embedding and D's projection term
(Miyato & Koyama 2018, "cGANs with Projection Discriminator").

Classes are indices, int64 tensors of shape (N,), or class weights, float (N, K) rows such as
one-hot vectors (a mix of two rows walks between classes). A network built with
``num_classes > 0`` needs them; an unconditional one (``num_classes == 0``) refuses them, so a
class can never be silently ignored.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganvas.errors import GanvasError


def require_labels(c: Tensor | None, num_classes: int, batch: int, who: str) -> None:
    """Raise when labels are missing for a conditional network, given to an unconditional one,
    or not one per sample. Checks shapes only (no host sync), so it is cheap in training."""
    if num_classes and c is None:
        raise GanvasError(f"this {who} is class-conditional ({num_classes} classes): "
                          "give a class for every sample")
    if not num_classes and c is not None:
        raise GanvasError(f"this {who} is unconditional: it takes no class")
    if c is None:
        return
    indices = c.dim() == 1 and not c.is_floating_point()
    weights = c.dim() == 2 and c.is_floating_point() and c.shape[1] == num_classes
    if c.shape[0] != batch or not (indices or weights):
        raise GanvasError(f"{who}: classes must be {batch} integer indices or {batch}×"
                          f"{num_classes} class weights, got {tuple(c.shape)} {c.dtype}")


def one_hot(c: Tensor, num_classes: int) -> Tensor:
    """Class weights (N, K) in fp32: one-hot rows for indices, the rows themselves otherwise."""
    if c.is_floating_point():
        return c.float()
    return torch.nn.functional.one_hot(c, num_classes).float()


def embed(table: nn.Embedding, c: Tensor) -> Tensor:
    """The embedding of classes ``c``: a row lookup, or the weighted mix of rows."""
    return table(c) if not c.is_floating_point() else c.to(table.weight.dtype) @ table.weight


def join_one_hot(z: Tensor, c: Tensor, num_classes: int) -> Tensor:
    """``z`` joined to the class weights of ``c`` (one-hot rows for indices): G's first layer
    then holds the class embedding in its weights, at the scale and learning rate of the rest."""
    return torch.cat([z, one_hot(c, num_classes).to(z.dtype)], dim=1)


class ClassProjection(nn.Module):
    """The projection discriminator's class term ``⟨embed(c), h⟩`` for features ``h`` (N, F),
    added to D's unconditional logit: D asks "real, and of this class?" in one number."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, features)
        nn.init.xavier_uniform_(self.embed.weight)  # as the projection paper's code

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        return (embed(self.embed, c).to(h.dtype) * h).sum(dim=1)


def parse_classes(text: str, names: list[str] | None, option: str = "--class") -> list[int]:
    """``'cat,3'`` or ``'all'`` -> class indices, by name or by index, for a model with ``names``.

    A name or index the model does not have is one error line listing what it has."""
    if not names:
        raise GanvasError(f"{option}: this run is unconditional (trained without --cond), so it "
                          "has no classes")
    if str(text).strip() == "all":
        return list(range(len(names)))
    indices = []
    for part in str(text).split(","):
        part = part.strip()
        if part in names:
            indices.append(names.index(part))
        elif part.isdigit() and int(part) < len(names):
            indices.append(int(part))
        else:
            shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
            raise GanvasError(f"{option}: no class {part!r}; this run has {len(names)} classes "
                              f"(0-{len(names) - 1}: {shown}) or 'all'")
    return indices
