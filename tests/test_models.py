"""DCGAN shapes, layer counts and initialisation at every resolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganvas.models.dcgan import DCGANSpec, Discriminator, Generator, count_layers

LAYERS = {32: 4, 64: 5, 128: 6, 256: 7, 512: 8}


@pytest.mark.parametrize("resolution", sorted(LAYERS))
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_layer_counts(resolution: int, channels: int) -> None:
    spec = DCGANSpec(resolution=resolution, channels=channels, g_channels=8, d_channels=8)
    G, D = Generator(spec), Discriminator(spec)
    z = torch.randn(2, spec.z_dim)
    with torch.no_grad():
        x = G(z)
        logits = D(x)
    assert x.shape == (2, channels, resolution, resolution)
    assert logits.shape == (2,)
    assert count_layers(G) == LAYERS[resolution]
    assert count_layers(D) == LAYERS[resolution]


@pytest.mark.parametrize("resolution", [32, 64])
def test_every_parameter_receives_a_gradient(resolution: int) -> None:
    """A layer cut off from the loss (a wiring mistake) would keep its initial weights forever."""
    spec = DCGANSpec(resolution=resolution, channels=3, g_channels=8, d_channels=8)
    G, D = Generator(spec), Discriminator(spec)
    D(G(torch.randn(4, spec.z_dim))).sum().backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_textbook_64px_widths_and_parameter_count() -> None:
    """At 64 px with defaults this is the PyTorch DCGAN tutorial's network, weight for weight."""
    spec = DCGANSpec(resolution=64, channels=3)
    G, D = Generator(spec), Discriminator(spec)
    widths = [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [512, 256, 128, 64, 3]
    assert [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512, 1]
    # Tutorial: 3,576,704 in G and 2,765,568 in D, all bias-free; ours adds output biases.
    assert sum(p.numel() for p in G.parameters()) == 3_576_704 + 3
    assert sum(p.numel() for p in D.parameters()) == 2_765_568 + 64 + 1


def test_first_discriminator_layer_has_no_batchnorm() -> None:
    D = Discriminator(DCGANSpec(resolution=32, channels=1))
    modules = list(D.main)
    assert isinstance(modules[0], nn.Conv2d) and isinstance(modules[1], nn.LeakyReLU)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 2


def test_width_is_capped_at_512() -> None:
    G = Generator(DCGANSpec(resolution=512, channels=3, g_channels=64))
    assert max(m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)) == 512


def test_init_statistics() -> None:
    torch.manual_seed(0)
    G = Generator(DCGANSpec(resolution=64, channels=3))
    conv = [m.weight for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    w = torch.cat([c.flatten() for c in conv])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    gamma = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(gamma.mean().item() - 1.0) < 5e-3 and abs(gamma.std().item() - 0.02) < 5e-3


@pytest.mark.parametrize("layers", [2, 3, 7])
def test_layers_option_changes_depth_not_output(layers: int) -> None:
    spec = DCGANSpec(resolution=64, channels=3, layers=layers, g_channels=8, d_channels=8)
    G, D = Generator(spec), Discriminator(spec)
    x = G(torch.randn(2, spec.z_dim))
    assert x.shape == (2, 3, 64, 64) and D(x).shape == (2,)
    assert count_layers(G) == layers and count_layers(D) == layers


@pytest.mark.parametrize("kernel", [3, 4, 5])
def test_kernel_sizes_and_dense_arch(kernel: int) -> None:
    spec = DCGANSpec(resolution=64, channels=3, kernel_size=kernel, arch="dense", init="glorot",
                     g_channels=8, d_channels=8)
    G, D = Generator(spec), Discriminator(spec)
    assert isinstance(G.main[0][0], nn.Linear)
    assert isinstance(D.head[1], nn.Linear)
    x = G(torch.randn(2, spec.z_dim))
    assert x.shape == (2, 3, 64, 64) and D(x).shape == (2,)
