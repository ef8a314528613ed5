"""StyleGAN2 networks, configs and path-length regularisation (tiny sizes: seconds on CPU)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganvas.errors import GanvasError
from ganvas.models.stylegan2 import CFG_NAMES, Discriminator, Generator, resolve_cfg
from ganvas.models.stylegan2.discriminator import MinibatchStdLayer
from ganvas.models.stylegan2.layers import (
    Conv2dLayer,
    modulated_conv2d,
    modulated_conv2d_reference,
)
from ganvas.models.stylegan2.networks import SynthesisLayer
from ganvas.models.stylegan2.resample import conv2d_resample, setup_filter, upfirdn2d
from ganvas.objective.stylegan2 import PathLengthPenalty, mix_styles

TINY = dict(z_dim=8, w_dim=8, img_channels=3, channel_base=64, channel_max=16, map_layers=2)


def tiny_pair(resolution: int = 16, seed: int = 0) -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    sizes = dict(channel_base=max(64, 4 * resolution), channel_max=16)  # 4 to 16 channels
    D = Discriminator(resolution, 3, mbstd_group=2, **sizes)
    return Generator(resolution=resolution, **{**TINY, **sizes}), D


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- expected sizes, from the architecture description ---------------------------------------


def expected_g_params(z: int, w: int, res: int, img: int, base: int, cmax: int, maps: int) -> int:
    ch = lambda r: min(base // r, cmax)  # noqa: E731
    total = z * w + w + (maps - 1) * (w * w + w)  # mapping
    for r in [2**i for i in range(2, int(math.log2(res)) + 1)]:
        convs = [(ch(r), ch(r))] if r == 4 else [(ch(r // 2), ch(r)), (ch(r), ch(r))]
        total += ch(4) * 16 if r == 4 else 0  # const input
        for cin, cout in convs:  # affine, 3×3 weight, bias, noise strength
            total += (w * cin + cin) + cout * cin * 9 + cout + 1
        total += (w * ch(r) + ch(r)) + img * ch(r) + img  # toRGB
    return total


def expected_d_params(res: int, img: int, base: int, cmax: int, resnet: bool = True) -> int:
    ch = lambda r: min(base // r, cmax)  # noqa: E731
    total = img * ch(res) + ch(res)  # fromRGB
    for r in [2**i for i in range(int(math.log2(res)), 2, -1)]:
        tmp, out = ch(r), ch(r // 2)
        total += tmp * tmp * 9 + tmp + tmp * out * 9 + out + (tmp * out if resnet else 0)
    c = ch(4)
    return total + (c + 1) * c * 9 + c + c * 16 * c + c + c + 1


# Counted with NVlabs/stylegan2-ada-pytorch training/networks.py (commit d72cc7d), c_dim=0.
REFERENCE_COUNTS = {("paper256", 256): (24_767_458, 24_001_089),
                    ("paper512", 512): (30_276_583, 28_982_849),
                    ("cifar", 32): (19_947_539, 20_720_641),
                    ("auto", 64): (22_243_608, 23_407_361)}


@pytest.mark.parametrize("name", CFG_NAMES)
@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_parameter_counts_match_the_architecture(name: str, resolution: int) -> None:
    spec = resolve_cfg(name, resolution)
    with torch.device("meta"):  # sizes only: no memory, no init
        G, D = spec.build(3)
    assert G.num_ws == 2 * int(math.log2(resolution)) - 2
    assert count(G) == expected_g_params(spec.z_dim, spec.w_dim, resolution, 3, spec.channel_base,
                                         spec.channel_max, spec.map_layers)
    assert count(D) == expected_d_params(resolution, 3, spec.channel_base, spec.channel_max,
                                         resnet=spec.d_architecture == "resnet")


@pytest.mark.parametrize(("name", "resolution"), list(REFERENCE_COUNTS))
def test_parameter_counts_match_the_reference(name: str, resolution: int) -> None:
    with torch.device("meta"):
        G, D = resolve_cfg(name, resolution).build(3)
    assert (count(G), count(D)) == REFERENCE_COUNTS[(name, resolution)]


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_shapes_and_reference_names(resolution: int) -> None:
    G, D = tiny_pair(resolution)
    images = G(torch.randn(2, 8))
    assert images.shape == (2, 3, resolution, resolution)
    assert D(images).shape == (2,)
    names = set(G.state_dict()) | {f"D.{k}" for k in D.state_dict()}
    for name in ["mapping.fc0.weight", "mapping.fc1.bias", "mapping.w_avg", "synthesis.b4.const",
                 "synthesis.b4.conv1.noise_const", "synthesis.b8.conv0.affine.weight",
                 "synthesis.b8.conv0.noise_strength", "synthesis.b8.resample_filter",
                 f"synthesis.b{resolution}.torgb.affine.bias", f"D.b{resolution}.fromrgb.weight",
                 f"D.b{resolution}.skip.resample_filter", "D.b4.conv.weight", "D.b4.fc.weight",
                 "D.b4.out.bias"]:
        assert name in names


# --- layers --------------------------------------------------------------------------------


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_fused_modulated_conv_equals_per_sample_reference(up: int, demodulate: bool) -> None:
    torch.manual_seed(0)
    x, weight = torch.randn(3, 5, 6, 6), torch.randn(4, 5, 3, 3)
    styles = torch.randn(3, 5)
    f = setup_filter()
    expected = modulated_conv2d_reference(x, weight, styles, f, up=up, padding=1,
                                          demodulate=demodulate)
    assert expected.shape == (3, 4, 6 * up, 6 * up)
    for fused in (True, False):
        got = modulated_conv2d(x, weight, styles, f, up=up, padding=1, demodulate=demodulate,
                               fused=fused)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_synthesis_layer_equals_its_textbook_composition(fused: bool, noise_mode: str) -> None:
    """The layer folds gain, demodulation, noise and bias into two passes; the result must be
    lrelu(modconv + noise·strength + bias)·√2·gain, clamped, computed step by step."""
    torch.manual_seed(0)
    layer = SynthesisLayer(5, 4, w_dim=6, resolution=12, up=2, conv_clamp=0.7)
    with torch.no_grad():
        layer.noise_strength.fill_(0.3)
        layer.bias.normal_()
    x, w = torch.randn(3, 5, 6, 6), torch.randn(3, 6)
    got = layer(x, w, noise_mode=noise_mode, fused=fused, gain=0.5)
    y = modulated_conv2d_reference(x, layer.weight, layer.affine(w), layer.resample_filter,
                                   up=2, padding=1)
    if noise_mode == "const":
        y = y + layer.noise_const * 0.3
    y = F.leaky_relu(y + layer.bias.reshape(1, -1, 1, 1), 0.2) * math.sqrt(2) * 0.5
    expected = y.clamp(-0.7 * 0.5, 0.7 * 0.5)
    assert 0 < (expected.abs() == 0.35).float().mean() < 0.9  # the clamp is exercised
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("down", [1, 2])
def test_conv_layer_equals_its_textbook_composition(down: int) -> None:
    """Gain and bias ride in the convolution's weights; the result must be unchanged."""
    torch.manual_seed(0)
    layer = Conv2dLayer(3, 4, 3, activation="lrelu", down=down, lr_multiplier=0.5)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 3, 8, 8)
    conv = conv2d_resample(x, layer.weight * layer.weight_gain, layer.resample_filter,
                           down=down, padding=1)
    expected = F.leaky_relu(conv + (layer.bias * 0.5).reshape(1, -1, 1, 1), 0.2)
    expected = expected * math.sqrt(2) * math.sqrt(0.5)
    torch.testing.assert_close(layer(x, gain=math.sqrt(0.5)), expected, rtol=1e-4, atol=1e-5)


def test_demodulation_gives_unit_variance() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 256, 16, 16)
    weight, styles = torch.randn(64, 256, 3, 3), 5 * torch.randn(4, 256)
    out = modulated_conv2d(x, weight, styles, padding=1)[:, :, 1:-1, 1:-1]  # inside the padding
    assert out.std().item() == pytest.approx(1.0, abs=0.05)
    raw = modulated_conv2d(x, weight, styles, padding=1, demodulate=False)[:, :, 1:-1, 1:-1]
    assert raw.std().item() > 10  # without demodulation the styles' scale passes through


def test_resampling_convolutions_equal_their_definitions() -> None:
    """Fused paths vs the plain definition: zero-insert, FIR, conv (up); conv, FIR, drop (down)."""
    torch.manual_seed(0)
    x, weight, f = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), setup_filter()
    upsampled = upfirdn2d(x, f, up=2, padding=[3, 2, 3, 2], gain=4)  # 2·8 + 5 - 3 = 18 px
    expected_up = F.conv2d(upsampled, weight.flip([2, 3]))  # the reference: a true convolution
    torch.testing.assert_close(conv2d_resample(x, weight, f, up=2, padding=1), expected_up)
    expected_down = upfirdn2d(F.conv2d(x, weight, padding=2), f, down=2)
    torch.testing.assert_close(conv2d_resample(x, weight, f, down=2, padding=1), expected_down)
    constant = torch.ones(1, 1, 8, 8)  # the FIR filter keeps the mean (away from the border)
    torch.testing.assert_close(upfirdn2d(constant, f, up=2, padding=[2, 1, 2, 1], gain=4)[
        ..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12))


def test_minibatch_stddev_by_hand() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, 3)
    out = MinibatchStdLayer(group_size=2)(x)
    assert out.shape == (4, 3, 3, 3)
    for i in range(4):  # groups are {0, 2} and {1, 3}
        pair = x[[i % 2, i % 2 + 2]]
        std = ((pair - pair.mean(0)).pow(2).mean(0) + 1e-8).sqrt().mean()
        torch.testing.assert_close(out[i, 2], torch.full((3, 3), std.item()))
    torch.testing.assert_close(out[:, :2], x)


# --- generator behaviour --------------------------------------------------------------------


def test_truncation_towards_w_avg() -> None:
    G, _ = tiny_pair()
    G.mapping.w_avg.normal_()
    z = torch.randn(3, 8)
    torch.testing.assert_close(G.mapping(z, truncation_psi=0.0),
                               G.mapping.w_avg.expand(3, G.num_ws, 8))
    ws, half = G.mapping(z), G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(half[:, :2], (ws[:, :2] + G.mapping.w_avg) / 2)
    torch.testing.assert_close(half[:, 2:], ws[:, 2:])


def test_w_avg_tracks_the_mean_only_when_asked() -> None:
    G, _ = tiny_pair()
    z = torch.randn(5, 8)
    G(z)
    assert torch.count_nonzero(G.mapping.w_avg) == 0
    G(z, update_emas=True)
    torch.testing.assert_close(G.mapping.w_avg, 0.005 * G.mapping(z)[:, 0].mean(0))


def test_eval_samples_do_not_depend_on_the_batch() -> None:
    G, _ = tiny_pair()
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.data.fill_(0.5)
    G.eval()
    z = torch.randn(4, 8)
    with torch.no_grad():
        together, alone = G(z), torch.cat([G(z[i : i + 1]) for i in range(4)])
        other_batch = G(torch.cat([z[:1], torch.randn(3, 8)]))
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(other_batch[0], together[0], rtol=1e-4, atol=1e-5)


def test_seeded_randomness_is_reproducible() -> None:
    G, _ = tiny_pair()
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.data.fill_(1.0)
    z = torch.randn(4, 8)

    def run(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return G.synthesize(mix_styles(G, z, 1.0, generator=gen), "random", generator=gen)

    torch.testing.assert_close(run(1), run(1))
    assert not torch.allclose(run(1), run(2))
    assert not torch.allclose(G(z, noise_mode="random"), G(z, noise_mode="const"))


def test_style_mixing_takes_a_second_latent_from_a_cutoff() -> None:
    G, _ = tiny_pair()
    z = torch.randn(4, 8)
    ws = G.mapping(z)
    torch.testing.assert_close(mix_styles(G, z, prob=0.0), ws)
    mixed = mix_styles(G, z, prob=1.0, generator=torch.Generator().manual_seed(0))
    same = (mixed == ws).all(dim=2).all(dim=0)  # per layer
    cutoff = int(same.logical_not().nonzero()[0])
    assert 1 <= cutoff < G.num_ws and same[:cutoff].all() and not same[cutoff:].any()


def test_training_steps_change_outputs_and_stay_finite() -> None:
    G, D = tiny_pair()
    opt_g = torch.optim.Adam(G.parameters(), lr=0.01, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=0.01, betas=(0.0, 0.99))
    z_fixed, reals = torch.randn(4, 8), torch.rand(4, 3, 16, 16) * 2 - 1
    before_g, before_d = G.eval()(z_fixed).detach(), D(reals).detach()
    G.train()
    for _ in range(3):
        fake = G.synthesize(mix_styles(G, torch.randn(4, 8), 0.9, update_emas=True))
        opt_g.zero_grad()
        F.softplus(-D(fake)).mean().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in G.named_parameters()
                   if not n.endswith("noise_strength"))
        opt_g.step()
        opt_d.zero_grad()
        (F.softplus(D(fake.detach())) + F.softplus(-D(reals))).mean().backward()
        opt_d.step()
    after_g = G.eval()(z_fixed)
    assert torch.isfinite(after_g).all() and not torch.allclose(after_g, before_g)
    assert not torch.allclose(D(reals), before_d)


# --- path-length regularisation -----------------------------------------------------------


def test_path_length_penalty_matches_the_jacobian() -> None:
    torch.manual_seed(0)
    G = Generator(resolution=8, **TINY).eval()  # eval: const noise, so G draws nothing
    penalty = PathLengthPenalty(decay=0.01, batch_shrink=2)
    z = torch.randn(4, 8)
    values = penalty(G, z, generator=torch.Generator().manual_seed(3))

    ws = G.mapping(z[:2]).detach()
    jac = torch.autograd.functional.jacobian(lambda w: G.synthesize(w), ws)  # (2,3,8,8,2,L,8)
    y = torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(3)) / 8
    lengths = torch.stack([torch.einsum("chw,chwlk->lk", y[i], jac[i, ..., i, :, :])
                           .pow(2).sum(1).mean().sqrt() for i in range(2)])
    mean = 0.01 * lengths.mean()
    torch.testing.assert_close(values, (lengths - mean) ** 2, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(penalty.state_dict()["pl_mean"], mean, rtol=1e-4, atol=1e-7)
    values.mean().backward()  # the penalty trains G
    assert G.synthesis.b8.conv0.weight.grad.abs().sum() > 0

    restored = PathLengthPenalty()
    restored.load_state_dict(penalty.state_dict())
    torch.testing.assert_close(restored.pl_mean, penalty.pl_mean)


# --- configs --------------------------------------------------------------------------------


def test_auto_config_follows_the_reference_heuristics() -> None:
    spec = resolve_cfg("auto", 256)
    assert (spec.batch, spec.mbstd_group, spec.channel_base, spec.lr) == (16, 4, 16384, 0.0025)
    assert spec.gamma == pytest.approx(0.0002 * 256**2 / 16)
    assert (spec.ema_kimg, spec.ema_rampup, spec.map_layers) == (5.0, 0.05, 2)
    big = resolve_cfg("auto", 1024, gpus=8)
    assert (big.batch, big.mbstd_group, big.channel_base, big.lr) == (32, 4, 32768, 0.002)
    assert resolve_cfg("auto", 32).batch == 32
    assert resolve_cfg("auto", 32, batch=8).batch == 8


def test_paper_and_cifar_configs() -> None:
    p256, p512, cifar = (resolve_cfg(n, r) for n, r in
                         [("paper256", 256), ("paper512", 512), ("cifar", 32)])
    assert (p256.batch, p256.mbstd_group, p256.channel_base, p256.gamma, p256.ema_kimg) == (
        64, 8, 16384, 1.0, 20.0)
    assert (p512.channel_base, p512.gamma, p512.map_layers, p512.betas) == (
        32768, 0.5, 8, (0.0, 0.99))
    assert (cifar.mbstd_group, cifar.gamma, cifar.ema_kimg, cifar.map_layers) == (
        32, 0.01, 500.0, 2)
    assert (cifar.pl_weight, cifar.style_mixing, cifar.d_architecture) == (0.0, 0.0, "orig")


@pytest.mark.parametrize(("args", "message"), [
    (("nope", 64), "cfg: unknown"), (("auto", 48), "resolution"),
    (("paper256", 256, 12), "batch"), (("small", 64, 0), "batch")])
def test_config_errors(args: tuple, message: str) -> None:
    with pytest.raises(GanvasError, match=message):
        resolve_cfg(*args)
