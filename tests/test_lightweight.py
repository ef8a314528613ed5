"""``--model lightweight`` (FastGAN): shapes and skip-layer excitation at every resolution, D's
reconstruction loss against a hand computation, patch logits under every loss, exact resume,
and generation and export from a trained run."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganvas
from ganvas.config import from_dict, resolve
from ganvas.errors import GanvasError
from ganvas.models import get_family
from ganvas.models.lightweight.networks import SkipExcitation, UpBlock, gated_conv
from ganvas.objective import losses
from ganvas.objective.lightweight import reconstruction_loss
from ganvas.render import load_generator, seed_latent
from ganvas.training.session import resumed_config
from tests.helpers import LIGHT, cli, objective_of

# A FastGAN small enough for a few steps a second: width 4 (16 channels at 16 px).

def build(resolution: int, width: int = 4, attention: str = ""):
    cfg = resolve({"model": "lightweight", "resolution": resolution, "width": width,
                   "attention": attention, "z_dim": 16})
    return get_family("lightweight").build(cfg.family, resolution, 3)


@pytest.mark.parametrize("resolution, excited_g, excited_d", [
    (64, ["64"], []), (128, ["64", "128"], ["8"]), (256, ["64", "128", "256"], ["16", "8"]),
    (512, ["64", "128", "256", "512"], ["32", "16", "8"])])
def test_shapes_and_skip_layer_excitation_at_each_resolution(resolution: int,
                                                             excited_g: list[str],
                                                             excited_d: list[str]) -> None:
    G, D = build(resolution)
    images = G(torch.randn(2, 16))
    assert images.shape == (2, 3, resolution, resolution)
    assert images.abs().max() <= 1
    logits, made = D(images, reconstruct=True, quarter=torch.tensor(2))
    assert logits.shape == (2, 25)
    side = min(resolution, 128)
    assert made["all"].shape == made["part"].shape == (2, 3, side, side)
    assert list(G.excite) == excited_g and list(D.excite) == excited_d
    assert D(images).shape == (2, 25)


def test_excitation_gates_each_sample_by_its_own_small_map() -> None:
    """SLE: the big map times a per-sample, per-channel gate in (0, 1) computed from the small
    map; changing one sample's small map changes only that sample's output."""
    torch.manual_seed(0)
    sle = SkipExcitation(8, 6).eval()  # eval: spectral norm's power iteration stays put
    small, big = torch.randn(3, 8, 8, 8), torch.randn(3, 6, 32, 32)
    out = sle(small, big)
    gate = out / big
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate), atol=1e-5)  # per channel
    assert 0 < gate.min() and gate.max() < 1
    changed = small.clone()
    changed[1] += 1.0
    other = sle(changed, big)
    assert torch.allclose(other[0], out[0], atol=1e-6) and torch.allclose(other[2], out[2],
                                                                           atol=1e-6)
    assert not torch.allclose(other[1], out[1])


def test_reconstruction_loss_by_hand() -> None:
    """L1 to the 2×2-averaged image and to its bottom-left quarter (upsampled ×2 is the area
    resize here: 8 px -> 4 px average), plus the same in a feature space."""
    seen = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 64
    made = {"all": torch.zeros(1, 1, 4, 4), "part": torch.full((1, 1, 4, 4), 0.5)}
    image = seen[0, 0].numpy()
    pooled = image.reshape(4, 2, 4, 2).mean(axis=(1, 3))
    quarter = image[4:, :4]  # quarter 2: bottom-left
    expected = np.abs(pooled).mean() + np.abs(quarter - 0.5).mean()
    got = reconstruction_loss(seen, made, torch.tensor(2))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    doubled = reconstruction_loss(seen, made, torch.tensor(2), features=lambda x: 3 * x)
    assert doubled.item() == pytest.approx(4 * expected, rel=1e-6)


@pytest.mark.parametrize("kind", ["bce", "mse", "hinge", "wgan"])
def test_patch_logits_take_each_samples_target_per_patch(kind: str) -> None:
    real, fake = torch.randn(4, 25), torch.randn(4, 25)
    targets = torch.tensor([0.9, 1.0, 0.8, 1.1]), torch.tensor([0.0, 0.1, 0.0, 0.2])
    expanded = [t[:, None].expand(4, 25) for t in targets]
    assert losses.discriminator_loss(kind, real, fake, *targets).item() == pytest.approx(
        losses.discriminator_loss(kind, real, fake, *expanded).item(), rel=1e-6)


def built_objective(**options: object):
    cfg = resolve({"model": "lightweight", "resolution": 64, "width": 4, **options})
    G, D = get_family("lightweight").build(cfg.family, 64, 3)
    return cfg, objective_of(cfg, G, D, torch.Generator().manual_seed(0))


def test_hinge_and_ada_are_the_default_and_aug_none_gives_color_translation() -> None:
    """ADA won the 60-minute row on 849 paintings (docs/benchmarks.md); ``--aug none`` is the
    reference's recipe, DiffAugment color,translation."""
    cfg, objective = built_objective()
    assert (cfg.objective.loss, cfg.objective.diffaugment) == ("hinge", "")
    assert objective.ada is not None and objective.ada_control is not None
    assert objective.policy == ()
    cfg, objective = built_objective(aug="none")
    assert objective.ada is None and objective.policy == ("color", "translation")
    cfg = resolve({"model": "lightweight", "resolution": 128})
    assert cfg.objective.ema_kimg == 10.0 and cfg.family.z_dim == 256


def test_a_run_saved_before_ada_became_the_default_resumes_without_it() -> None:
    """config.json records the family's choice for --aug auto ("ada"); one saved before that
    says "auto", which then meant DiffAugment alone, and resumes so."""
    saved = resolve({"model": "lightweight", "resolution": 64}).to_dict()
    assert saved["objective"]["aug"] == "ada" and from_dict(saved).objective.aug == "ada"
    saved["objective"].update(aug="auto", diffaugment="color,translation")
    old = from_dict(saved)
    assert (old.objective.aug, old.objective.diffaugment) == ("none", "color,translation")
    state = {"config": saved}  # on resume, --aug auto means the family's choice, as ever
    with pytest.raises(GanvasError, match="--aug cannot change"):
        resumed_config(Path("run"), state, {"aug": "auto"})
    saved["objective"].update(aug="ada", diffaugment="")
    assert resumed_config(Path("run"), state, {"aug": "auto"}).objective.aug == "ada"
    with pytest.raises(GanvasError, match="--aug cannot change"):
        resumed_config(Path("run"), state, {"aug": "none"})
    with pytest.raises(GanvasError, match="--resolution: --model lightweight trains at 64"):
        resolve({"model": "lightweight", "resolution": 32})
    with pytest.raises(GanvasError, match="--width: --model dcgan does not use it"):
        resolve({"model": "dcgan", "width": 8})
    with pytest.raises(GanvasError, match="--attention: '7' has 7"):
        resolve({"model": "lightweight", "resolution": 64, "attention": "7"})


def test_resume_is_exact(tmp_path: Path) -> None:
    options = dict(LIGHT, precision="fp32", snapshot_kimg=0.016, attention="16")
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.032, progress=False, **options)
    part = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.016, progress=False, **options)
    ganvas.train(resume=part.run_dir, kimg=0.032, progress=False)
    a = torch.load(whole.run_dir / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(part.run_dir / "checkpoints/latest.pt", weights_only=True)
    for net in ("G", "D", "G_ema"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key}"
    rows = [json.loads(line) for line in (part.run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all("loss_recon" in r for r in rows)


def test_generate_and_export_a_trained_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = ganvas.train(outdir=str(tmp_path / "runs"), kimg=0.016, progress=False,
                       **LIGHT).run_dir
    for out in ("one", "two"):
        code, _, err = cli(capsys, "generate", run, "--seeds", "3-4", "--out", tmp_path / out)
        assert code == 0, err
    one, two = ((tmp_path / name / "seed0003.png").read_bytes() for name in ("one", "two"))
    assert one == two
    code, _, err = cli(capsys, "export", run, "--out", tmp_path / "G.pt")
    assert code == 0, err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(tmp_path / "G.pt"))
    G = load_generator(run)
    z = torch.cat([seed_latent(s, G.z_dim) for s in (5, 6)])
    with torch.no_grad():
        assert torch.allclose(module(z), G(z), atol=1e-5)


def test_the_plain_default_follows_the_small_data_table(capsys: pytest.CaptureFixture) -> None:
    """Below 128 px the plain default stays DCGAN; from 128 px it is the lightweight family,
    and config.json / --dry-run say why. Options of one family choose that family."""
    below = resolve({"resolution": 64})
    assert below.model == "dcgan" and "plain default at 64 px" in below.why
    chosen = resolve({"resolution": 128})
    assert chosen.model == "lightweight" and "plain default at 128 px" in chosen.why
    assert resolve({"resolution": 256, "g_channels": 32}).model == "dcgan"
    assert resolve({"resolution": 256, "model": "stylegan2"}).why == ""
    code, out, _ = cli(capsys, "train", "mnist", "--resolution", "128", "--dry-run")
    saved = json.loads(out)
    assert code == 0 and saved["model"] == "lightweight" and "lightweight" in saved
    assert saved["why"].startswith("--model lightweight with ADA: the plain default at 128 px")
    assert resolve({"resolution": 128, "aug": "none"}).why.startswith(
        "--model lightweight: the plain default")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gated_convolution_is_glu_of_batchnorm_of_the_whole_convolution(
        training: bool, layout: torch.memory_format) -> None:
    """The two half-width convolutions give GLU(BN(noise(conv(x)))) of the one wide
    convolution, and update BatchNorm's running statistics as the whole BatchNorm would."""
    torch.manual_seed(0)
    block = UpBlock(6, 5, 16, comp=True)
    with torch.no_grad():
        block.noise1.weight.fill_(0.3)
        block.noise2.weight.fill_(-0.2)
        for norm in (block.bn1, block.bn2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
            norm.running_mean.uniform_(-0.1, 0.1)
    reference = copy.deepcopy(block)
    block.train(training).to(memory_format=layout)
    reference.train(training)
    x = torch.randn(4, 6, 8, 8).contiguous(memory_format=layout)
    out = block(x, "random", torch.Generator().manual_seed(1))

    g = torch.Generator().manual_seed(1)
    r = reference
    y = r.conv1(F.interpolate(x.contiguous(), scale_factor=2.0, mode="nearest"))
    y = F.glu(r.bn1(r.noise1(y, "random", g)), dim=1)
    y = F.glu(r.bn2(r.noise2(r.conv2(y), "random", g)), dim=1)

    assert out.shape == y.shape == (4, 5, 16, 16)
    assert torch.allclose(out, y, atol=1e-5)
    for name in ("bn1", "bn2"):
        mine, theirs = getattr(block, name), getattr(reference, name)
        assert torch.allclose(mine.running_mean, theirs.running_mean, atol=1e-6)
        assert torch.allclose(mine.running_var, theirs.running_var, atol=1e-6)
        assert int(mine.num_batches_tracked) == int(theirs.num_batches_tracked) == int(training)
    if training:
        assert not torch.allclose(block.bn1.running_var, torch.ones(10))  # stats did move


def test_gated_convolution_under_syncbatchnorm_takes_the_one_piece_path() -> None:
    """torchrun's SyncBatchNorm cannot be sliced: the gate then runs on the whole map."""
    torch.manual_seed(0)
    conv_layer = torch.nn.Conv2d(3, 8, 3, padding=1)
    plain = torch.nn.BatchNorm2d(8).eval()
    with torch.no_grad():
        plain.running_mean.uniform_(-1, 1)
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(
        torch.nn.Sequential(copy.deepcopy(plain)))[0].eval()
    assert isinstance(synced, torch.nn.SyncBatchNorm)
    x = torch.randn(2, 3, 6, 6)
    expected = F.glu(plain(conv_layer(x)), dim=1)
    assert torch.allclose(gated_conv(x, conv_layer, synced), expected, atol=1e-6)
    assert torch.allclose(gated_conv(x, conv_layer, plain), expected, atol=1e-6)
