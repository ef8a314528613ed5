"""Opt-in equivalence with NVIDIA's own code: set GANVAS_SG2_REFERENCE to a checkout of
NVlabs/stylegan2-ada-pytorch (its pure-PyTorch fallbacks run on CPU). Skipped otherwise.

Checks that the reference's state dicts load here by name (strict) and give the same images and
logits, and that a snapshot pickled by the reference's own persistence code imports safely.
"""

from __future__ import annotations

import copy
import os
import pickle
import sys
import types
from pathlib import Path

import pytest
import torch

from ganvas.models.stylegan2 import Discriminator, Generator, import_network_pickle

REFERENCE = os.environ.get("GANVAS_SG2_REFERENCE")
pytestmark = pytest.mark.skipif(not REFERENCE, reason="GANVAS_SG2_REFERENCE not set")


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    monkeypatch.syspath_prepend(REFERENCE)
    if "requests" not in sys.modules:  # dnnlib imports it for downloads we never do
        monkeypatch.setitem(sys.modules, "requests", types.ModuleType("requests"))
    import dnnlib  # noqa: F401
    from training import networks
    return networks


@pytest.mark.parametrize("architecture", ["resnet", "orig"])
def test_same_outputs_as_the_reference(reference: types.ModuleType, architecture: str) -> None:
    torch.manual_seed(0)
    ref_g = reference.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                                mapping_kwargs=dict(num_layers=2),
                                synthesis_kwargs=dict(channel_base=512, channel_max=32,
                                                      conv_clamp=0.5))
    ref_d = reference.Discriminator(c_dim=0, img_resolution=32, img_channels=3, channel_base=512,
                                    channel_max=32, architecture=architecture,
                                    epilogue_kwargs=dict(mbstd_group_size=2))
    with torch.no_grad():
        for p in [*ref_g.parameters(), *ref_d.parameters(), ref_g.mapping.w_avg]:
            p.add_(0.3 * torch.randn_like(p))
    G = Generator(16, 16, 32, 3, 512, 32, map_layers=2, conv_clamp=0.5)
    G.load_state_dict(ref_g.state_dict(), strict=True)
    D = Discriminator(32, 3, 512, 32, mbstd_group=2, architecture=architecture)
    D.load_state_dict(ref_d.state_dict(), strict=True)
    z, images = torch.randn(4, 16), torch.randn(4, 3, 32, 32)
    for training in (False, True):  # fused grouped conv in eval, activation scaling in training
        ref_g.train(training), G.train(training)
        expected = ref_g(z, None, truncation_psi=0.7, truncation_cutoff=3, noise_mode="const")
        got = G(z, truncation_psi=0.7, truncation_cutoff=3, noise_mode="const",
                update_emas=training)  # the reference updates w_avg whenever training
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(D(images), ref_d(images, None).reshape(-1), rtol=1e-4, atol=1e-5)


def test_reference_snapshot_imports(reference: types.ModuleType, tmp_path: Path) -> None:
    import dnnlib
    torch.manual_seed(0)
    ref_g = reference.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                                mapping_kwargs=dnnlib.EasyDict(num_layers=2),
                                synthesis_kwargs=dnnlib.EasyDict(channel_base=256, channel_max=32,
                                                                 num_fp16_res=4, conv_clamp=256))
    ref_d = reference.Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256,
                                    channel_max=32, epilogue_kwargs=dict(mbstd_group_size=2))
    snapshot = {key: copy.deepcopy(net).eval().requires_grad_(False)
                for key, net in [("G", ref_g), ("D", ref_d), ("G_ema", ref_g)]}
    (tmp_path / "snapshot.pkl").write_bytes(pickle.dumps(snapshot))
    imported = import_network_pickle(tmp_path / "snapshot.pkl")
    G = Generator(**imported["kwargs"]["G"]).eval()
    G.load_state_dict(imported["G_ema"], strict=True)
    z = torch.randn(2, 16)
    expected = snapshot["G_ema"](z, None, noise_mode="const", force_fp32=True)  # no fp16 here
    torch.testing.assert_close(G(z), expected)
