"""Importing NVIDIA stylegan2-ada-pytorch pickles without executing anything from them.

The pickles are built here with the same structure as NVIDIA's: a fake ``torch_utils.persistence``
module (injected into ``sys.modules``) whose persistent objects reduce to
``_reconstruct_persistent_obj(meta)``, with a ``module_src`` that would create a marker file if it
were ever executed, and constructor kwargs held in a fake ``dnnlib.util.EasyDict``.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from ganvas.errors import GanvasError
from ganvas.models.stylegan2 import Discriminator, Generator, import_network_pickle
from ganvas.render import load_generator
from tests.helpers import D_KWARGS, G_KWARGS, cli, write_snapshot


def test_plain_pickle_would_execute_the_source(tmp_path: Path, nvidia_modules, marker) -> None:
    """The fixture is faithful: loading it the usual way runs module_src."""
    write_snapshot(tmp_path / "net.pkl", nvidia_modules)
    with pytest.raises(AssertionError):
        pickle.loads((tmp_path / "net.pkl").read_bytes())
    assert marker.exists()


def test_import_round_trips_every_tensor(tmp_path: Path, nvidia_modules, marker) -> None:
    nets = write_snapshot(tmp_path / "net.pkl", nvidia_modules)
    imported = import_network_pickle(tmp_path / "net.pkl")
    assert not marker.exists()
    assert not [m for m in sys.modules if m.startswith("_imported_module_")]
    assert imported["kwargs"]["G"] == {**G_KWARGS, "conv_clamp": None, "mapping_lr": 0.01,
                                       "w_avg_beta": 0.995}
    assert imported["kwargs"]["D"] == {**D_KWARGS, "mbstd_channels": 1,
                                       "architecture": "resnet", "conv_clamp": None}
    assert imported["training_set_kwargs"] == {"path": "data.zip", "resolution": 16}
    for key, net in nets.items():
        expected = net.state_dict()
        assert imported[key].keys() == expected.keys()
        for name, tensor in expected.items():
            assert torch.equal(imported[key][name], tensor), f"{key}.{name}"
    G = Generator(**imported["kwargs"]["G"]).eval()
    G.load_state_dict(imported["G_ema"], strict=True)
    D = Discriminator(**imported["kwargs"]["D"])
    D.load_state_dict(imported["D"], strict=True)
    z, images = torch.randn(2, 8), torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(G(z), nets["G_ema"](z))
    torch.testing.assert_close(D(images), nets["D"](images))


def test_conditional_networks_import_and_draw_each_class(tmp_path: Path, nvidia_modules,
                                                         capsys: pytest.CaptureFixture) -> None:
    nets = write_snapshot(tmp_path / "net.pkl", nvidia_modules, c_dim=10)
    imported = import_network_pickle(tmp_path / "net.pkl")
    assert imported["kwargs"]["G"]["c_dim"] == 10 and imported["kwargs"]["D"]["c_dim"] == 10
    assert "mapping.embed.weight" in imported["G_ema"] and "mapping.fc0.weight" in imported["D"]
    code, _, err = cli(capsys, "import", tmp_path / "net.pkl", tmp_path / "net.pt")
    assert code == 0, err
    G = load_generator(tmp_path / "net.pt")
    z, c = torch.randn(2, 8), torch.tensor([3, 7])
    torch.testing.assert_close(G(z, c, noise_mode="const"),
                               nets["G_ema"].eval()(z, c, noise_mode="const"))
    code, _, err = cli(capsys, "generate", tmp_path / "net.pt", "--class", "all", "--seeds",
                       "0", "--out", tmp_path / "out")
    assert code == 0, err
    assert len(list((tmp_path / "out").glob("seed0000-*.png"))) == 10


class _Call:
    """Pickles as a call of ``func(*args)``: how a malicious pickle runs code."""

    def __init__(self, func: object, *args: object):
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


@pytest.mark.parametrize("payload", ["os.system", "eval", "subprocess", "in-network"])
def test_malicious_pickles_are_refused_without_running(tmp_path: Path, marker: Path,
                                                        nvidia_modules, payload: str) -> None:
    touch = f"open({str(marker)!r}, 'w').close()"
    calls = {"os.system": _Call(os.system, f"touch {marker}"),
             "eval": _Call(eval, touch),
             "subprocess": _Call(subprocess.call, ["touch", str(marker)])}
    if payload == "in-network":  # hidden in a network's constructor kwargs
        write_snapshot(tmp_path / "net.pkl", nvidia_modules)
        data = {"G": nvidia_modules.Persistent(nn.Module(), "Generator",
                                               {"z_dim": _Call(eval, touch)})}
    else:
        data = {"G": calls[payload]}
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(data))
    with pytest.raises(GanvasError, match=r"evil\.pkl: refused to load \S+ from the pickle"):
        import_network_pickle(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_storage_bytes_are_read_weights_only(tmp_path: Path, marker: Path) -> None:
    """A tensor storage whose bytes hold a code-running pickle is not executed."""
    inner = io.BytesIO()
    torch.save(_Call(os.system, f"touch {marker}"), inner, _use_new_zipfile_serialization=False)
    evil = _Call(torch.storage._load_from_bytes, inner.getvalue())
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"G": evil}))
    with pytest.raises(GanvasError, match=r"evil\.pkl: not a readable network pickle"):
        import_network_pickle(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(GanvasError, match="missing.pkl: cannot read"):
        import_network_pickle(tmp_path / "missing.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(GanvasError, match="junk.pkl: not a readable network pickle"):
        import_network_pickle(tmp_path / "junk.pkl")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(GanvasError, match="list.pkl: the pickle does not hold a dict"):
        import_network_pickle(tmp_path / "list.pkl")
