"""Export: the generator alone, as TorchScript or ONNX, reproduces its images."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest
import torch

from ganvas.errors import GanvasError
from ganvas.explore.export import export
from ganvas.render import seed_latent
from ganvas.render import load_generator
from tests.helpers import FakeStyleGAN, cli, error_line


def test_torchscript_reproduces_the_generator(tmp_path: Path, tiny_run: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    code, out, _ = cli(capsys, "export", tiny_run, "--out", tmp_path / "G.pt")
    assert code == 0 and "G.pt" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(tmp_path / "G.pt"))
    G = load_generator(tiny_run)
    z = torch.cat([seed_latent(s, G.z_dim) for s in (5, 6, 7)])  # another batch size than traced
    with torch.no_grad():
        assert torch.allclose(module(z), G(z), atol=1e-6)


def test_stylegan_export_bakes_in_truncation(tmp_path: Path) -> None:
    G = FakeStyleGAN()
    export(G, tmp_path / "sg.pt", truncation_psi=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(tmp_path / "sg.pt"))
    z = seed_latent(1, G.z_dim)
    assert torch.allclose(module(z), G(z, truncation_psi=0.5), atol=1e-6)
    with pytest.raises(GanvasError, match="--trunc: only StyleGAN2"):
        export(torch.nn.Sequential(torch.nn.Linear(2, 2)).eval(), tmp_path / "x.pt",
               truncation_psi=0.5)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None
                    or importlib.util.find_spec("onnxscript") is None,
                    reason="onnxruntime/onnxscript not installed")
def test_onnx_runs_in_onnxruntime(tmp_path: Path, tiny_run: Path) -> None:
    import onnxruntime

    G = load_generator(tiny_run)
    export(G, tmp_path / "G.onnx", "onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["G.onnx"]  # weights inside, no temps
    session = onnxruntime.InferenceSession(str(tmp_path / "G.onnx"),
                                           providers=["CPUExecutionProvider"])
    z = torch.cat([seed_latent(s, G.z_dim) for s in (1, 2, 3)])
    (images,) = session.run(None, {"z": z.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(images), G(z), atol=1e-5)


def test_onnx_without_its_packages_is_a_clear_error(tmp_path: Path, tiny_run: Path,
                                                    capsys: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real_find_spec(name, *a))
    code, _, err = cli(capsys, "export", tiny_run, "--format", "onnx", "--out", tmp_path / "G.onnx")
    assert code == 2 and "--format onnx: needs the onnxscript package" in error_line(err)
    assert not (tmp_path / "G.onnx").exists()
