"""The issue's sanity check on real images, with the real weights: FID between two disjoint halves
of MNIST's test set is small, and between MNIST and CelebA large.

Slow (≈600 Inception passes at 299 px, about a minute on two idle cores), so marked ``slow``;
skipped when ``../shared/data`` or the weights are missing. ``-s`` prints the measured numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ganvas.data.builtin import mnist
from ganvas.errors import GanvasError
from ganvas.metrics import evaluate, load_inception

N = 200  # images per side: enough to separate "same data" from "other data" by a wide margin


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:FID with few images")
def test_mnist_halves_are_close_and_celeba_is_far(shared_data: Path) -> None:
    celeba = shared_data / "celeba_89x109_10k.tar"
    if not celeba.is_file():
        pytest.skip(f"{celeba} is not available")
    try:
        model = load_inception()
    except GanvasError as exc:
        pytest.skip(f"no Inception weights: {exc}")
    test_images = mnist("test")[0]
    first, second = test_images[:N], test_images[5000:5000 + N]  # disjoint halves
    halves = evaluate(first, second, kid=True, n=N, inception=model)
    across = evaluate(first, celeba, kid=True, n=N, inception=model)
    print(f"\nMNIST half vs half (n={N}): FID {halves['fid']:.2f}, "
          f"KID {halves['kid_mean']:.5f} ± {halves['kid_std']:.5f}")
    print(f"MNIST vs CelebA    (n={N}): FID {across['fid']:.2f}, "
          f"KID {across['kid_mean']:.5f} ± {across['kid_std']:.5f}")
    print(f"protocol: {across['protocol']}")
    assert across["n_b"] == N and "tar" in across["b"]
    assert halves["fid"] < 0.2 * across["fid"]
    assert across["fid"] > 100
    assert abs(halves["kid_mean"]) < 0.1 * across["kid_mean"]
