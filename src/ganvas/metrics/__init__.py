"""Image-quality metrics with the standard protocol: FID, KID and precision/recall.

All of them use the TF Inception-v3 (2015-12-05) pool3 features that pytorch-fid, torch-fidelity,
clean-fid and StyleGAN2-ADA use, so ganvas numbers can be put next to published ones (when the
protocol line matches). See docs/metrics.md.
"""

from __future__ import annotations

from ganvas.metrics.evaluation import evaluate, extract_features, save_stats
from ganvas.metrics.inception import InceptionV3FID
from ganvas.metrics.scores import (feature_stats, fid_from_features, fid_from_stats, kid,
                                   precision_recall)
from ganvas.metrics.weights import load_inception

__all__ = ["evaluate", "save_stats", "extract_features", "load_inception", "InceptionV3FID",
           "feature_stats", "fid_from_stats", "fid_from_features", "kid", "precision_recall"]
