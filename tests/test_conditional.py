"""Class-conditional training and generation (``--cond``, ``--class``, ``--agreement``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganvas
from ganvas.data import ImageSet
from ganvas.errors import GanvasError
from ganvas.explore.export import export
from ganvas.explore.interpolate import interpolation_frames
from ganvas.metrics.agreement import class_agreement
from ganvas.metrics.per_class import per_class_scores
from ganvas.models import get_family
from ganvas.models.dcgan.networks import DCGANSpec, Discriminator, Generator
from ganvas.models.stylegan2.networks import MappingNetwork, normalize_2nd_moment
from ganvas.render import LatentSpace, load_generator
from ganvas.training.transfer import widened
from tests.helpers import LIGHT, SG2, TINY, cli, error_line

COND = dict(TINY, cond=True)


def ok(capsys: pytest.CaptureFixture, *args: object) -> None:
    """Run a ganvas command that must succeed."""
    code, _, err = cli(capsys, *args)
    assert code == 0, err


def test_projection_term_is_the_class_embedding_dotted_with_pooled_features() -> None:
    torch.manual_seed(0)
    spec = DCGANSpec(resolution=32, channels=1, z_dim=8, g_channels=4, d_channels=4)
    D = Discriminator(spec, num_classes=3).eval()
    with torch.no_grad():
        D.projection.embed.weight.copy_(torch.arange(3 * D.projection.embed.weight.shape[1],
                                                     dtype=torch.float32).reshape(3, -1) / 10)
    x, c = torch.randn(4, 1, 32, 32), torch.tensor([0, 2, 1, 2])
    with torch.no_grad():
        features = D.main(x)
        plain = D.head(features).reshape(-1)
    pooled = features.sum(dim=(2, 3))  # (N, F) summed over the last map's pixels
    weight = D.projection.embed.weight.detach()
    by_hand = torch.tensor([sum(float(weight[int(k), j]) * float(pooled[i, j])
                                for j in range(pooled.shape[1])) for i, k in enumerate(c)])
    with torch.no_grad():
        torch.testing.assert_close(D(x, c), plain + by_hand, rtol=1e-4, atol=1e-4)


def test_dcgan_generator_joins_the_one_hot_class_to_z() -> None:
    torch.manual_seed(0)
    spec = DCGANSpec(resolution=32, channels=1, z_dim=8, g_channels=4, d_channels=4)
    G = Generator(spec, num_classes=5).eval()
    z = torch.randn(2, 8)
    joined = torch.cat([z, torch.eye(5)[[1, 4]]], dim=1)
    torch.testing.assert_close(G(z, torch.tensor([1, 4])), G.to_rgb(G.main(joined)))
    # Class weights (one-hot rows) are the same as indices; a mix lies between.
    torch.testing.assert_close(G(z, torch.eye(5)[[1, 4]]), G(z, torch.tensor([1, 4])))


def test_stylegan2_mapping_joins_the_normalised_class_embedding_to_z() -> None:
    """As the reference: embed(one-hot c), normalised, joined after the normalised z."""
    torch.manual_seed(0)
    mapping = MappingNetwork(z_dim=6, w_dim=8, num_ws=3, num_layers=2, c_dim=4)
    assert mapping.fc0.weight.shape == (8, 6 + 8)  # z and the class embedding
    z, c = torch.randn(5, 6), torch.tensor([0, 1, 2, 3, 1])
    x = torch.cat([normalize_2nd_moment(z),
                   normalize_2nd_moment(mapping.embed(torch.eye(4)[c]))], dim=1)
    expected = mapping.fc1(mapping.fc0(x))
    ws = mapping(z, c)
    torch.testing.assert_close(ws, expected.unsqueeze(1).repeat(1, 3, 1))
    assert not torch.allclose(mapping(z, c)[0], mapping(z, torch.tensor([3, 1, 2, 3, 1]))[0])


@pytest.mark.parametrize("model", ["dcgan", "stylegan2", "lightweight"])
def test_every_family_builds_conditional_networks_that_need_a_class(model: str) -> None:
    options = ganvas.config.with_model_defaults(ganvas.config.resolve(
        {"model": model, "resolution": 64 if model == "lightweight" else 32}))
    G, D = get_family(model).build(options.family, options.data.resolution, 3, num_classes=3)
    G.eval(), D.eval()
    z, c = torch.randn(2, G.z_dim), torch.tensor([0, 2])
    images = G(z, c)
    assert D(images, c).shape[0] == 2
    assert not torch.allclose(G(z, c), G(z, torch.tensor([1, 1])))
    with pytest.raises(GanvasError, match="class-conditional"):
        G(z)
    with pytest.raises(GanvasError, match="class-conditional"):
        D(images)
    with pytest.raises(GanvasError, match="classes must be 2 integer indices"):
        G(z, torch.tensor([0]))


def test_cond_on_data_without_labels_is_one_error_line(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(np.full((32, 32, 3), i * 10, np.uint8)).save(folder / f"{i}.png")
    code, _, err = cli(capsys, "train", folder, "--cond", "--kimg", "0.016",
                       "--outdir", tmp_path / "runs")
    assert code == 2
    assert "--cond: pictures has no class labels" in error_line(err)
    assert "one sub-folder per class" in error_line(err)


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ganvas.train(outdir=str(tmp_path_factory.mktemp("cond")), kimg=0.048,
                        progress=False, **COND).run_dir


def test_a_conditional_run_records_its_classes(cond_run: Path) -> None:
    config = json.loads((cond_run / "config.json").read_text())
    assert config["data"]["cond"] is True
    G = load_generator(cond_run)
    assert G.num_classes == 10 and G.class_names == [str(d) for d in range(10)]


def test_class_grid_has_a_row_per_class_of_each_seeds_image(cond_run: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    ok(capsys, "generate", cond_run, "--class", "all", "--seeds", "0-2", "--grid",
       "--out", tmp_path / "grid")
    ok(capsys, "generate", cond_run, "--class", "7,2", "--seeds", "1", "--out",
       tmp_path / "single")
    grid = np.asarray(Image.open(tmp_path / "grid" / "grid.png"))
    pad, tile = 2, 32
    assert grid.shape[:2] == (pad + 10 * (tile + pad), pad + 3 * (tile + pad))

    def tile_at(row: int, column: int) -> np.ndarray:
        top, left = pad + row * (tile + pad), pad + column * (tile + pad)
        return grid[top:top + tile, left:left + tile]

    for digit in (7, 2):
        single = np.asarray(Image.open(tmp_path / "single" / f"seed0001-{digit}.png"))
        assert np.array_equal(tile_at(digit, 1), single.reshape(tile_at(digit, 1).shape))
    assert not np.array_equal(tile_at(7, 1), tile_at(2, 1))


def test_a_foreign_class_is_one_error_line(cond_run: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "generate", cond_run, "--class", "12", "--out", tmp_path / "x")
    assert code == 2
    assert error_line(err).startswith("ganvas: error: --class: no class '12'; this run has 10")
    code, _, err = cli(capsys, "generate", cond_run, "--out", tmp_path / "y")
    assert code == 2 and "choose classes with --class" in error_line(err)


@pytest.mark.parametrize("model", ["dcgan", "stylegan2"])
def test_conditional_resume_is_exact(model: str, tmp_path: Path) -> None:
    options = dict(SG2 if model == "stylegan2" else TINY, cond=True, precision="fp32",
                   snapshot_kimg=0.016 if model == "dcgan" else 0.008, r1=0)
    if model == "stylegan2":
        options.pop("r1")
    total = 0.032 if model == "dcgan" else 0.016
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=total, progress=False, **options)
    part = ganvas.train(outdir=str(tmp_path / "b"), kimg=total / 2, progress=False, **options)
    ganvas.train(resume=part.run_dir, kimg=total, progress=False)
    a = torch.load(whole.run_dir / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(part.run_dir / "checkpoints/latest.pt", weights_only=True)
    for net in ("G", "D"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key}"


class ColourClasses(torch.nn.Module):
    """A 'generator' of K flat-colour classes with noise: it returns an image of the class it is
    asked for (``obey``) or of a random class, whatever it is asked (not ``obey``)."""

    def __init__(self, palette: torch.Tensor, obey: bool):
        super().__init__()
        self.palette, self.obey = palette, obey
        self.num_classes, self.z_dim, self.resolution, self.img_channels = len(palette), 4, 32, 3
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # a module with parameters

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        k = c.argmax(1) if self.obey else (z[:, 0] * 1000).long() % self.num_classes
        colour = self.palette[k].reshape(-1, 3, 1, 1)
        noise = 0.05 * z[:, 1:2, None, None]
        return (colour + noise).expand(-1, 3, 32, 32).clamp(-1, 1)


def colour_data(palette: torch.Tensor, n: int = 200) -> ImageSet:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(palette), n)
    colours = ((palette.numpy()[labels] + 1) * 127.5)[:, :, None, None]
    images = np.clip(colours + rng.normal(0, 6, (n, 3, 32, 32)), 0, 255).astype(np.uint8)
    return ImageSet("colours", images, labels.astype(np.int64), {},
                    [f"c{k}" for k in range(len(palette))])


@pytest.mark.parametrize("obey", [True, False])
def test_agreement_is_near_one_for_an_obedient_generator_and_near_chance_otherwise(
        obey: bool, random_inception) -> None:
    palette = torch.tensor([[-0.8, -0.8, 0.8], [0.8, -0.8, -0.8], [-0.8, 0.8, -0.8],
                            [0.8, 0.8, 0.8]])
    G = ColourClasses(palette, obey).eval()
    result = class_agreement(colour_data(palette), G, n=200, inception=random_inception,
                             device="cpu")
    assert result["probe_accuracy"] > 0.95
    if obey:
        assert result["agreement"] > 0.9
    else:
        assert abs(result["agreement"] - 0.25) < 0.12


def test_a_walk_between_classes_starts_and_ends_at_each_class(cond_run: Path) -> None:
    space = LatentSpace(load_generator(cond_run))
    frames = interpolation_frames(space, [5], frames=4, classes=[3, 8])
    assert len(frames) == 5
    ends = space.render(space.from_seeds([5, 5], [3, 8])).transpose(0, 2, 3, 1)
    assert np.array_equal(frames[0], ends[0]) and np.array_equal(frames[-1], ends[1])
    assert not np.array_equal(frames[2], frames[0]) and not np.array_equal(frames[2], frames[-1])


def test_export_takes_z_and_a_class(cond_run: Path, tmp_path: Path) -> None:
    G = load_generator(cond_run)
    path = export(G, tmp_path / "G.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path))
    z, c = torch.randn(3, G.z_dim), torch.tensor([4, 0, 9])
    torch.testing.assert_close(module(z, c), G(z, c))


def test_widened_keeps_z_weights_and_fresh_class_weights() -> None:
    source = {"stem": torch.ones(4, 3), "bias": torch.ones(3), "same": torch.full((2,), 5.0)}
    target = {"stem": torch.zeros(6, 3), "bias": torch.zeros(5), "same": torch.zeros(2),
              "new": torch.zeros(1)}
    result = widened(target, source)
    assert torch.equal(result["stem"][:4], torch.ones(4, 3))
    assert torch.equal(result["stem"][4:], torch.zeros(2, 3))
    assert torch.equal(result["bias"], torch.zeros(5))  # a vector of another size stays fresh
    assert torch.equal(result["same"], source["same"]) and torch.equal(result["new"], target["new"])


def test_a_conditional_run_starts_from_an_unconditional_one(tmp_path: Path) -> None:
    plain = ganvas.train(outdir=str(tmp_path / "plain"), kimg=0.032, progress=False,
                         **TINY).run_dir
    cond = ganvas.train(outdir=str(tmp_path / "cond"), kimg=0.016, progress=False,
                        init_from=str(plain), lr_g=1e-12, lr_d=1e-12, **COND).run_dir
    source = torch.load(plain / "checkpoints/latest.pt", weights_only=True)["G"]
    started = torch.load(cond / "checkpoints/latest.pt", weights_only=True)["G"]
    stem = "main.0.1.weight"  # the first transposed conv: (z_dim + classes, width, 4, 4)
    assert started[stem].shape[0] == source[stem].shape[0] + 10
    torch.testing.assert_close(started[stem][:16], source[stem])
    with pytest.raises(GanvasError, match="it is class-conditional; add --cond"):
        ganvas.train(outdir=str(tmp_path / "back"), kimg=0.016, progress=False,
                     init_from=str(cond), **TINY)


def test_agreement_while_training_needs_cond() -> None:
    with pytest.raises(GanvasError, match="--metrics agreement: .* add --cond"):
        ganvas.train(kimg=0.016, progress=False, metrics="agreement", **TINY)


def test_arithmetic_turns_a_seed_into_another_class(cond_run: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    ok(capsys, "arithmetic", cond_run, "12 - class(3) + class(8)", "--class", "3", "--out",
       tmp_path / "sum")
    ok(capsys, "generate", cond_run, "--seeds", "12", "--class", "8", "--out",
       tmp_path / "direct")
    made = np.asarray(Image.open(tmp_path / "sum" / "result.png"))
    direct = np.asarray(Image.open(tmp_path / "direct" / "seed0012-8.png"))
    assert np.abs(made.astype(int) - direct.reshape(made.shape).astype(int)).max() <= 1
    code, _, err = cli(capsys, "arithmetic", cond_run, "12 + class(cat)", "--class", "3",
                       "--out", tmp_path / "bad")
    assert code == 2 and "class(cat): no class 'cat'" in error_line(err)


def test_intra_class_fid_is_low_for_an_obedient_generator_and_high_otherwise(
        random_inception) -> None:
    palette = torch.tensor([[-0.8, -0.8, 0.8], [0.8, -0.8, -0.8], [-0.8, 0.8, -0.8]])
    data = colour_data(palette, n=90)
    scores = {obey: per_class_scores(data, ColourClasses(palette, obey).eval(), n=30,
                                     kid=False, inception=random_inception, device="cpu")
              for obey in (True, False)}
    assert set(scores[True]["classes"]) == {"c0", "c1", "c2"}
    assert scores[False]["fid"] > 3 * scores[True]["fid"]


def test_the_lightweight_family_trains_and_draws_classes(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    run = ganvas.train(outdir=str(tmp_path / "runs"), kimg=0.016, progress=False, cond=True,
                       **LIGHT).run_dir
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert rows and all("loss_recon" in r for r in rows)
    ok(capsys, "generate", run, "--class", "0,9", "--seeds", "4", "--out", tmp_path / "out")
    zero, nine = (np.asarray(Image.open(tmp_path / "out" / f"seed0004-{k}.png")) for k in (0, 9))
    assert not np.array_equal(zero, nine)


def test_demo_cond_ends_with_a_row_per_digit(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    ok(capsys, "demo", "--cond", "--kimg", "0.064", "--outdir", tmp_path)
    grid = Image.open(next(tmp_path.glob("*-demo-cond")) / "classes.png")
    assert grid.size == (2 + 8 * 34, 2 + 10 * 34)  # 8 seeds by 10 digits of 32 px


def test_class_metrics_of_an_unconditional_run_are_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = ganvas.train(outdir=str(tmp_path / "runs"), kimg=0.016, progress=False,
                       **TINY).run_dir
    for flag in ("--agreement", "--per-class"):
        code, _, err = cli(capsys, "evaluate", "mnist-test", run, flag)
        assert code == 2
        assert error_line(err) == (f"ganvas: error: {flag}: this run is unconditional "
                                   "(trained without --cond)")


def test_class_direction_in_w_is_the_mean_w_of_the_class(tmp_path_factory: pytest.TempPathFactory,
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    from ganvas.explore.arithmetic import CLASS_SEEDS
    from ganvas.render import load_latents
    from tests.helpers import train_once
    run = train_once(tmp_path_factory, "cond-sg2", kimg=0.016, cond=True, **SG2)
    ok(capsys, "arithmetic", run, "12 - class(3) + class(8)", "--class", "3", "--out", tmp_path)
    made, space_name, _ = load_latents(tmp_path / "result.npz")
    space = LatentSpace(load_generator(run))
    assert space_name == "w" == space.space
    seeds = list(range(CLASS_SEEDS))
    by_hand = (space.from_seeds([12], [3]) - space.from_seeds(seeds, [3] * len(seeds)).mean(0)
               + space.from_seeds(seeds, [8] * len(seeds)).mean(0))
    torch.testing.assert_close(made, by_hand, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(made, space.from_seeds([12], [3]), atol=1e-3)
