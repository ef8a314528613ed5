"""LatentSpace: seeds, truncation, interpolation, rendering and latent files, in z and in w."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ganvas.errors import GanvasError
from ganvas.render import LatentSpace, lerp, load_latents, seed_latent, slerp
from ganvas.utils.grid import to_uint8
from tests.helpers import FakeStyleGAN, varied_dcgan


def test_z_truncation_redraws_only_the_entries_beyond_psi() -> None:
    plain = seed_latent(11, 512)
    truncated = seed_latent(11, 512, truncation_psi=0.7)
    inside = plain.abs() <= 0.7
    assert truncated.abs().max() <= 0.7
    assert torch.equal(truncated[inside], plain[inside])
    assert not torch.equal(truncated[~inside], plain[~inside])
    assert torch.equal(truncated, seed_latent(11, 512, truncation_psi=0.7))  # deterministic


def test_slerp_against_rotation_in_the_plane_of_both_vectors() -> None:
    a, b = seed_latent(1, 8), seed_latent(2, 8)
    b = b / b.norm() * a.norm()  # equal norms: slerp walks the great circle at constant speed
    path = slerp(a, b, torch.tensor([0.0, 0.25, 1.0]))
    assert torch.allclose(path[0], a[0], atol=1e-6) and torch.allclose(path[2], b[0], atol=1e-5)
    # Independent construction: rotate a towards b by a quarter of the angle between them.
    u = a[0] / a.norm()
    v = b[0] - (b[0] @ u) * u
    v = v / v.norm()
    angle = math.acos(float(a[0] @ b[0] / (a.norm() * b.norm())))
    expected = a.norm() * (math.cos(angle / 4) * u + math.sin(angle / 4) * v)
    assert torch.allclose(path[1], expected, atol=1e-5)
    assert torch.allclose(path.norm(dim=1), a.norm().expand(3), atol=1e-5)


def test_lerp_in_w_is_a_straight_line() -> None:
    a, b = torch.zeros(1, 3, 2), torch.ones(1, 3, 2) * 4
    assert torch.equal(lerp(a, b, torch.tensor([0.25]))[0], torch.full((3, 2), 1.0))


def test_each_seed_renders_the_same_bytes_whatever_its_neighbours() -> None:
    G, _ = varied_dcgan()
    threads = torch.get_num_threads()
    # With 2 threads, a batch of 3 and a batch of 1 round differently in the last float bits
    # (measured); padding every batch to the same size is what makes them agree.
    torch.set_num_threads(2)
    try:
        space = LatentSpace(G, batch=8)
        floats_together = space.images(space.from_seeds([3, 4, 5]))
        floats_alone = space.images(space.from_seeds([4]))
        together = space.render(space.from_seeds([3, 4, 5]))
        alone = space.render(space.from_seeds([4]))
        many = space.render(space.from_seeds(range(20)))  # several padded batches
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(floats_together[1], floats_alone[0])
    assert together.dtype == np.uint8 and together.shape == (3, 1, 32, 32)
    assert together[1].tobytes() == alone[0].tobytes() == many[4].tobytes()
    assert many[3].tobytes() == together[0].tobytes() and many[19].tobytes() != many[18].tobytes()
    with torch.no_grad():  # and they are G's images of the seeds' z
        reference = to_uint8(G(seed_latent(5, G.z_dim))).numpy()
    assert np.abs(together[2].astype(int) - reference[0].astype(int)).max() <= 1


def test_w_space_maps_seeds_and_truncates_towards_w_avg() -> None:
    G = FakeStyleGAN()
    space = LatentSpace(G, truncation_psi=0.5)
    assert space.space == "w" and space.shape == (3, 6)
    ws = space.from_seeds([7, 8])
    with torch.no_grad():
        w = G.mlp(seed_latent(8, 8))[0]
    assert torch.allclose(ws[1], (G.w_avg + 0.5 * (w - G.w_avg)).expand(3, 6), atol=1e-6)
    start = space.start_latent(seed=3)
    assert torch.allclose(start[0], G.w_avg.expand(3, 6))
    with torch.no_grad():
        direct = G(torch.cat([seed_latent(7, 8), seed_latent(8, 8)]), truncation_psi=0.5)
    assert np.array_equal(space.render(ws), to_uint8(direct).numpy())


def test_noise_mode_reaches_generators_that_have_it_and_is_refused_elsewhere() -> None:
    G = FakeStyleGAN()
    latents = LatentSpace(G).from_seeds([1])
    const = LatentSpace(G, noise_mode="const").render(latents)
    assert np.array_equal(const, LatentSpace(G).render(latents))
    torch.manual_seed(0)
    noisy = LatentSpace(G, noise_mode="random").render(latents)
    assert not np.array_equal(const, noisy)
    with pytest.raises(GanvasError, match="--noise-mode: .*no noise inputs"):
        LatentSpace(varied_dcgan()[0], noise_mode="random")
    with pytest.raises(GanvasError, match="--trunc: .* must be > 0"):
        LatentSpace(varied_dcgan()[0], truncation_psi=0.0)


def test_latent_files_round_trip_and_refuse_the_wrong_space(tmp_path: Path) -> None:
    dcgan, stylegan = LatentSpace(varied_dcgan()[0]), LatentSpace(FakeStyleGAN())
    latents = dcgan.from_seeds([1, 2])
    dcgan.save(tmp_path / "z.npz", latents, ["a", "b"])
    loaded, space, labels = load_latents(tmp_path / "z.npz")
    assert torch.equal(loaded, latents) and space == "z" and labels == ["a", "b"]
    with np.load(tmp_path / "z.npz", allow_pickle=False) as data:  # plain arrays, no pickle
        assert str(data["space"]) == "z"
    with pytest.raises(GanvasError, match="holds z latents, but this generator works in w"):
        stylegan.load(tmp_path / "z.npz")
    other = LatentSpace(varied_dcgan(z_dim=4)[0])
    with pytest.raises(GanvasError, match="do not fit this generator"):
        other.load(tmp_path / "z.npz")
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(GanvasError, match="not a ganvas latent file"):
        load_latents(tmp_path / "junk.npz")
