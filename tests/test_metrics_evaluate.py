"""``evaluate``/``save_stats``/``ganvas evaluate``: every kind of side, the cache, the protocol
and the user mistakes.

The network is a random-init Inception fed 75 px inputs instead of 299 px (16× cheaper): these
tests are about plumbing, and the same features on both paths is all they need. The network
itself is checked against the reference in test_metrics_inception.py.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganvas.errors import GanvasError
from ganvas.metrics import evaluation as evaluate_module
from ganvas.metrics import evaluate, inception, save_stats
from ganvas.metrics.commands import evaluate_command
from ganvas.metrics.inception import InceptionV3FID
from ganvas.utils.cache import cache_dir

pytestmark = pytest.mark.filterwarnings("ignore:FID with few images")


@pytest.fixture
def model(random_inception: InceptionV3FID) -> InceptionV3FID:
    return random_inception


@pytest.fixture(autouse=True)
def _small_and_offline(monkeypatch: pytest.MonkeyPatch, model: InceptionV3FID) -> None:
    monkeypatch.setattr(inception, "INPUT_SIZE", 75)
    monkeypatch.setattr(evaluate_module, "load_inception", lambda path=None, device="cpu": model)


def _images(n: int, channels: int = 3, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, channels, size, size), dtype=np.uint8)


class TinyG(torch.nn.Module):
    z_dim = 8

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.fc = torch.nn.Linear(8, 3 * 16 * 16)
        self.drop = torch.nn.Dropout(0.5)  # in train mode this would make samples random

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.drop(self.fc(z))).view(-1, 3, 16, 16)


def test_arrays_give_scores_and_a_protocol(model: InceptionV3FID) -> None:
    a, b = _images(6, seed=1), _images(5, seed=2)
    result = evaluate(a, b, kid=True, pr=True, inception=model)
    assert {"fid", "kid_mean", "kid_std", "precision", "recall"} <= set(result)
    assert result["n_a"] == 6 and result["n_b"] == 5 and result["fid"] > 1e-3
    protocol = result["protocol"]
    for part in ("A = array 6x3x16x16 (6 images)", "B = array 5x3x16x16 (5 images)",
                 "Inception-v3", "random-test", "bilinear", "align_corners=False", "(x-128)/128",
                 "100 subsets of 5", "k=3"):
        assert part in protocol
    assert evaluate(a, a, inception=model)["fid"] <= 1e-6


def test_folder_zip_and_array_of_the_same_images_agree(tmp_path: Path,
                                                       model: InceptionV3FID) -> None:
    images = _images(4, seed=3)
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / ("sub" if i % 2 else "") / f"{i}.png")
    # the folder order is sorted relative paths: 0.png, 2.png, sub/1.png, sub/3.png
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as z:
        for p in sorted(folder.rglob("*.png")):
            z.write(p, p.relative_to(folder))
    reference = _images(5, seed=4)
    from_array = evaluate(reference, images, inception=model)["fid"]
    from_folder = evaluate(reference, folder, inception=model)
    from_zip = evaluate(reference, tmp_path / "imgs.zip", inception=model)
    assert from_folder["fid"] == pytest.approx(from_array, rel=1e-6)
    assert from_zip["fid"] == pytest.approx(from_array, rel=1e-6)
    assert from_folder["n_b"] == 4 and f"folder {folder}" in from_folder["protocol"]


def test_images_of_other_sizes_are_resized_and_counted(tmp_path: Path,
                                                       model: InceptionV3FID) -> None:
    Image.fromarray(_images(1, size=20)[0].transpose(1, 2, 0)).save(tmp_path / "a.png")
    Image.fromarray(_images(1, size=12, seed=1)[0, 0]).save(tmp_path / "b.jpg")  # grey, smaller
    Image.fromarray(_images(1, size=20, seed=2)[0].transpose(1, 2, 0)).save(tmp_path / "c.webp")
    (tmp_path / "notes.txt").write_text("not an image")
    result = evaluate(tmp_path, _images(3), inception=model)
    assert result["n_a"] == 3
    assert "1 images of another size resized (PIL bicubic) to the first one's 20x20" in \
        result["protocol"]


def test_packed_dataset(tmp_path: Path, model: InceptionV3FID) -> None:
    from ganvas.data.packed import finish_packed

    images = _images(5, seed=5)
    packed = tmp_path / "packed"
    packed.mkdir()
    np.save(packed / "images.npy", images)
    finish_packed(packed, np.load(packed / "images.npy", mmap_mode="r"), None, {})
    result = evaluate(packed, images, inception=model)
    assert result["fid"] <= 1e-6 and result["a"] == f"packed {packed}"


def test_saved_stats_reproduce_the_score(tmp_path: Path, model: InceptionV3FID) -> None:
    a, b = _images(6, seed=6), _images(6, seed=7)
    info = save_stats(a, tmp_path / "a.npz", inception=model)
    assert info["n"] == 6 and "array 6x3x16x16" in info["protocol"]
    direct = evaluate(a, b, kid=True, inception=model)
    stored = evaluate(tmp_path / "a.npz", b, kid=True, inception=model)
    assert stored["fid"] == pytest.approx(direct["fid"], rel=1e-9)
    assert stored["kid_mean"] == pytest.approx(direct["kid_mean"], rel=1e-9)
    assert stored["n_a"] == 6 and "saved from array 6x3x16x16" in stored["protocol"]

    save_stats(a, tmp_path / "mu_sigma.npz", inception=model, features=False)
    assert evaluate(tmp_path / "mu_sigma.npz", b, inception=model)["fid"] == \
        pytest.approx(direct["fid"], rel=1e-9)
    with pytest.raises(GanvasError, match="has no 'features' array; KID needs them"):
        evaluate(tmp_path / "mu_sigma.npz", b, kid=True, fid=False, inception=model)


def test_stats_from_other_tools_and_broken_npz(tmp_path: Path, model: InceptionV3FID) -> None:
    np.savez(tmp_path / "other.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    result = evaluate(tmp_path / "other.npz", _images(3), inception=model)
    assert "saved by another tool" in result["protocol"] and result["n_a"] is None
    np.savez(tmp_path / "no_stats.npz", features=np.zeros((3, 2048)))
    with pytest.raises(GanvasError, match=r"no_stats.npz: no 'mu' and 'sigma'"):
        evaluate(tmp_path / "no_stats.npz", _images(3), inception=model)
    np.savez(tmp_path / "wrong.npz", mu=np.zeros(64), sigma=np.eye(64))
    with pytest.raises(GanvasError, match="not Inception pool3 statistics"):
        evaluate(tmp_path / "wrong.npz", _images(3), inception=model)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(GanvasError, match="not a readable .npz"):
        evaluate(tmp_path / "junk.npz", _images(3), inception=model)


def test_generator_module_is_deterministic_and_not_cached(model: InceptionV3FID) -> None:
    G = TinyG().train()
    reference = _images(4, seed=8)
    first = evaluate(reference, G, n=5, batch_size=2, inception=model)
    second = evaluate(reference, G, n=5, batch_size=3, inception=model)
    assert first["n_b"] == 5 and first["fid"] == pytest.approx(second["fid"], rel=1e-6)
    assert G.training  # restored after sampling in eval mode
    assert "generator TinyG" in first["protocol"]
    assert len(list(cache_dir("metrics").iterdir())) == 1  # only the real side


def test_run_folder_and_checkpoint_load_the_generator(tmp_path: Path, model: InceptionV3FID,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import ganvas.metrics.sources

    loaded: list[Path] = []

    def fake_load(path: Path, device: str = "cpu") -> torch.nn.Module:
        loaded.append(Path(path))
        return TinyG().eval()

    monkeypatch.setattr(ganvas.metrics.sources, "load_generator", fake_load)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest.pt").write_bytes(b"")
    result = evaluate(_images(3), run, n=3, inception=model)
    assert f"generator {run}" in result["protocol"]
    evaluate(_images(3), run / "checkpoints" / "latest.pt", n=3, inception=model)
    assert loaded == [run, run / "checkpoints" / "latest.pt"]


def test_a_real_training_run_is_evaluated(tmp_path: Path, model: InceptionV3FID) -> None:
    """The generator path against the real ganvas.render.load_generator (a 1-second run)."""
    import ganvas
    from tests.helpers import TINY

    run = ganvas.train(outdir=str(tmp_path), kimg=0.016, progress=False, **TINY).run_dir
    by_folder = evaluate("mnist-test", run, n=6, inception=model)
    by_file = evaluate("mnist-test", run / "checkpoints" / "latest.pt", n=6, inception=model)
    assert by_folder["fid"] > 1e-3 and by_folder["fid"] == pytest.approx(by_file["fid"], rel=1e-6)
    assert by_folder["b"] == f"generator {run}" and by_folder["a"] == "built-in mnist-test"


def test_features_of_real_data_are_cached(tmp_path: Path, model: InceptionV3FID,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for i, image in enumerate(_images(3, seed=9)):
        Image.fromarray(image.transpose(1, 2, 0)).save(tmp_path / f"{i}.png")
    array = _images(3, seed=10)
    first = evaluate(tmp_path, array, inception=model)
    assert len(list(cache_dir("metrics").glob("*.npz"))) == 2
    monkeypatch.setattr(evaluate_module, "extract_features",
                        lambda *a, **k: pytest.fail("features should come from the cache"))
    assert evaluate(tmp_path, array, inception=model)["fid"] == first["fid"]
    (tmp_path / "0.png").touch()  # a changed file is a new dataset
    with pytest.raises(pytest.fail.Exception):
        evaluate(tmp_path, array, inception=model)


@pytest.mark.parametrize("side, message", [
    (np.zeros((1, 3, 8, 8), np.uint8), "has 1 image"),
    (np.zeros((4, 3, 8, 8), np.float32), "expected uint8 N×C×H×W"),
    (np.zeros((4, 8, 8), np.uint8), "expected uint8 N×C×H×W"),
    ("/no/such/folder", "/no/such/folder: no such file or folder"),
    (lambda z: z, "needs an integer z_dim"),
    (42, "cannot evaluate a int"),
])
def test_bad_sides_are_one_clear_error(side: object, message: str,
                                       model: InceptionV3FID) -> None:
    with pytest.raises(GanvasError, match=message) as info:
        evaluate(side, _images(3), inception=model)
    assert "\n" not in str(info.value)


def test_empty_folder_and_unreadable_images(tmp_path: Path, model: InceptionV3FID) -> None:
    with pytest.raises(GanvasError, match="has 0 image"):
        evaluate(tmp_path, _images(3), inception=model)
    Image.fromarray(_images(1)[0].transpose(1, 2, 0)).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(GanvasError, match="gave 1 readable image.*1 unreadable files skipped"):
        evaluate(tmp_path, _images(3), inception=model)


def test_option_mistakes(model: InceptionV3FID, tmp_path: Path) -> None:
    with pytest.raises(GanvasError, match="--n"):
        evaluate(_images(3), _images(3), n=1, inception=model)
    with pytest.raises(GanvasError, match="no metric"):
        evaluate(_images(3), _images(3), fid=False, inception=model)
    with pytest.raises(GanvasError, match="must end in .npz"):
        save_stats(_images(3), tmp_path / "stats.txt", inception=model)
    with pytest.raises(GanvasError, match="more than 3 images"):
        evaluate(_images(3), _images(3), pr=True, inception=model)


def test_cli_scores_save_stats_and_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "unused.npy", _images(1))
    for name, seed in (("a", 11), ("b", 12)):
        (tmp_path / name).mkdir()
        for i, image in enumerate(_images(4, seed=seed)):
            Image.fromarray(image.transpose(1, 2, 0)).save(tmp_path / name / f"{i}.png")
    runner = CliRunner()
    result = runner.invoke(evaluate_command, [str(tmp_path / "a"), str(tmp_path / "b"), "--kid",
                                              "--fid", "--n", "3"])
    assert result.exit_code == 0, result.output
    assert "fid " in result.stdout and "kid " in result.stdout and "protocol: A = folder" in \
        result.stdout and "(3 images)" in result.stdout

    result = runner.invoke(evaluate_command, ["--save-stats", str(tmp_path / "a"),
                                              str(tmp_path / "a.npz")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(evaluate_command, [str(tmp_path / "a.npz"), str(tmp_path / "b")])
    assert result.exit_code == 0 and "A = stats" in result.stdout

    for args, message in (([str(tmp_path / "a")], "expected two sides"),
                          ([str(tmp_path / "a"), str(tmp_path / "nope")], "no such file"),
                          ([str(tmp_path / "a"), str(tmp_path / "b"), "--n", "1"], "--n")):
        result = runner.invoke(evaluate_command, args)
        assert result.exit_code == 2
        assert result.stderr.startswith("ganvas: error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1


def test_cli_wrong_weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganvas.metrics import weights

    monkeypatch.setattr(evaluate_module, "load_inception", weights.load_inception)
    (tmp_path / "w.pth").write_bytes(b"nonsense")
    result = CliRunner().invoke(evaluate_command, ["mnist-test", "mnist-test", "--inception",
                                                   str(tmp_path / "w.pth")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"ganvas: error: inception weights {tmp_path / 'w.pth'}: ")
