"""Does it obey? Class agreement of a conditional generator (``ganvas evaluate DATA RUN
--agreement``).

A linear probe (multinomial logistic regression) learns the classes from the Inception pool
features of labelled real images, the network FID uses. Its accuracy on real images it was not
fitted on is the ceiling: what a perfect generator would score. The agreement is the share of
generated images that the probe assigns to the class they were asked for. Generated classes are
uniform (seed ``s`` draws class ``s mod K``), as FID's samples are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganvas.data import ImageSet, class_weights, open_training_data
from ganvas.errors import GanvasError
from ganvas.metrics.evaluation import NETWORK, _defaults, _model, extract_features
from ganvas.metrics.inception import InceptionV3FID
from ganvas.metrics.sources import ArraySide, GeneratorSide
from ganvas.render import load_generator

HELD_OUT = 0.25  # share of the real images kept from the probe, to measure its accuracy
REAL_IMAGES = 4000  # real images used at most (fitting and held out)


@dataclass
class LinearProbe:
    """Standardised features → class logits, fitted by L-BFGS with an L2 penalty."""

    mean: torch.Tensor
    scale: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, num_classes: int,
            l2: float = 1e-3, steps: int = 200) -> "LinearProbe":
        x = torch.as_tensor(features, dtype=torch.float64)
        y = torch.as_tensor(labels, dtype=torch.long)
        mean, scale = x.mean(0), x.std(0).clamp_min(1e-6)
        x = (x - mean) / scale
        weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps,
                                      line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:
            optimizer.zero_grad()
            value = torch.nn.functional.cross_entropy(x @ weight + bias, y) \
                + l2 * weight.square().sum()
            value.backward()
            return value

        optimizer.step(loss)
        return cls(mean, scale, weight.detach(), bias.detach())

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = (torch.as_tensor(features, dtype=torch.float64) - self.mean) / self.scale
        return (x @ self.weight + self.bias).argmax(1).numpy()


def split_real(labels: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of up to ``n`` real images in a fixed random order, split into the probe's
    training part and its held-out part."""
    order = np.random.default_rng(seed).permutation(len(labels))[:n]
    cut = int(round(len(order) * (1 - HELD_OUT)))
    if cut < 2 or len(order) - cut < 1:
        raise GanvasError(f"--agreement: {len(labels)} labelled images are too few for a probe")
    return np.sort(order[:cut]), np.sort(order[cut:])


@dataclass
class ClassProbe:
    """A probe fitted on a labelled set, with its accuracy on held-out real images."""

    probe: LinearProbe
    ceiling: float
    classes: list[str]
    description: str


def fit_class_probe(data: ImageSet, model: InceptionV3FID, batch_size: int,
                    progress: bool = False, real_images: int = REAL_IMAGES) -> ClassProbe:
    """Fit the probe on up to ``real_images`` of ``data``'s labelled images (a fixed random
    subset), and measure it on the quarter held out."""
    class_weights(data, "--agreement")  # one error line when the data has no labels
    labels = np.asarray(data.labels)
    fit_idx, held_idx = split_real(labels, real_images)

    def features(indices: np.ndarray, label: str) -> np.ndarray:
        side = ArraySide(np.ascontiguousarray(data.images[indices]), label)
        return extract_features(side, len(indices), model, batch_size, progress, label)

    probe = LinearProbe.fit(features(fit_idx, "probe"), labels[fit_idx], len(data.classes))
    ceiling = float(np.mean(probe.predict(features(held_idx, "held-out")) == labels[held_idx]))
    return ClassProbe(probe, ceiling, list(data.classes or []),
                      f"{len(fit_idx)} labelled images of {data.name}, {len(held_idx)} held out")


def agreement_of(fitted: ClassProbe, G: torch.nn.Module, n: int, model: InceptionV3FID,
                 batch_size: int, progress: bool = False) -> dict[str, Any]:
    """The share of ``G``'s ``n`` samples (seed s asks for class s mod K) that the probe puts
    in the class asked for, beside the probe's ceiling."""
    names = list(getattr(G, "class_names", []) or [])
    if not getattr(G, "num_classes", 0):
        raise GanvasError("--agreement: this run is unconditional (trained without --cond)")
    if names and names != fitted.classes:
        raise GanvasError(f"--agreement: the data's classes ({', '.join(fitted.classes)}) are "
                          f"not the run's ({', '.join(names)})")
    num_classes = int(G.num_classes)
    fake = extract_features(GeneratorSide(G, "generator"), n, model, batch_size, progress,
                            "samples")
    agreement = float(np.mean(fitted.probe.predict(fake) == np.arange(len(fake)) % num_classes))
    return {"agreement": agreement, "probe_accuracy": fitted.ceiling,
            "ratio": agreement / fitted.ceiling if fitted.ceiling else float("nan"),
            "classes": num_classes, "n": len(fake),
            "protocol": (f"class agreement: a linear probe (multinomial logistic regression, "
                         f"L2 1e-3) on {NETWORK} pool features of {fitted.description} (its "
                         f"accuracy there is the ceiling); {len(fake)} samples, classes uniform "
                         f"(seed s draws class s mod {num_classes}), weights {model.weights_id}")}


def conditional_pair(data: str | ImageSet, generator: Any, device: str, option: str
                     ) -> tuple[torch.nn.Module, ImageSet]:
    """A conditional run's generator and its labelled data at the generator's size, or one
    error line naming ``option``."""
    G = load_generator(generator, device=device) if not isinstance(generator, torch.nn.Module) \
        else generator
    if not getattr(G, "num_classes", 0):
        raise GanvasError(f"{option}: this run is unconditional (trained without --cond)")
    real = data if isinstance(data, ImageSet) else \
        open_training_data(data, int(G.resolution), int(G.img_channels), progress=False)
    class_weights(real, option)  # one error line when the data has no labels
    names = list(getattr(G, "class_names", []) or [])
    if names and names != list(real.classes or []):
        raise GanvasError(f"{option}: {real.name}'s classes ({', '.join(real.classes or [])}) "
                          f"are not the run's ({', '.join(names)})")
    return G, real


def class_agreement(data: str | ImageSet, generator: Any, n: int = 1000,
                    batch_size: int | None = None,
                    inception: str | InceptionV3FID | None = None,
                    device: str | torch.device | None = None,
                    progress: bool = False) -> dict[str, Any]:
    """Agreement of ``generator``'s (a conditional run's) ``n`` samples with their classes,
    judged by a linear probe fitted on ``data``'s labelled images; with the probe's accuracy
    on held-out real images (the ceiling) and their ratio."""
    batch_size, device = _defaults(n, batch_size, device)
    G, real = conditional_pair(data, generator, device, "--agreement")
    model = _model(inception, device)
    fitted = fit_class_probe(real, model, batch_size, progress)
    return agreement_of(fitted, G, n, model, batch_size, progress)
