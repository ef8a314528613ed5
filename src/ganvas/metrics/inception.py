"""Inception-v3, the FID variant: the network behind every published FID, KID and P/R number.

FID is only comparable across papers when it is computed with the TensorFlow Inception-v3 graph of
2015-12-05, quirks included. This module rebuilds that graph in PyTorch the way pytorch-fid,
torch-fidelity, clean-fid and StyleGAN2-ADA do:

* BatchNorm without a learned scale and with ``eps=1e-3`` (TF's default);
* the average pools inside the mixed blocks ignore padding (``count_include_pad=False``), as TF's
  ``SAME`` average pooling does;
* the last block (``Mixed_7c``) pools its fourth branch with a *max* pool, a bug in the TF graph
  that every FID implementation has to reproduce;
* the output is ``pool_3``: the 2048 channels averaged over the final 8×8 map.

Parameter names follow torchvision/pytorch-fid (``Mixed_5b.branch1x1.conv.weight`` …), so
pytorch-fid's published weights load without translation. Weights are loaded by
:mod:`ganvas.metrics.weights`; this module only describes the network and its input protocol.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Inception's input size; every image is resized to it, whatever its own size.
INPUT_SIZE = 299
#: Width of the pool3 feature vector.
FEATURE_DIM = 2048
#: One line that says how images become features (goes into every protocol description).
PREPROCESSING = ("uint8 RGB (grey repeated to 3 channels) -> float 0..255, bilinear resize to "
                 f"{INPUT_SIZE}x{INPUT_SIZE} (torch F.interpolate, align_corners=False), (x-128)/128")


class ConvBN(nn.Module):
    """Convolution without bias, BatchNorm (eps 1e-3, as in TF) and ReLU: Inception's unit."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))

    def fold_batchnorm(self) -> None:
        """Merge the (frozen) BatchNorm into the convolution: same function, one pass less."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(self.conv.eval(), self.bn.eval())
            self.bn = nn.Identity()


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool that, like TF's SAME pooling, does not count the zero padding."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """35×35 block (Mixed_5b/c/d): 1×1, 5×5, double 3×3 and pooled branches."""

    def __init__(self, cin: int, pool_channels: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(cin, 64, 1)
        self.branch5x5_1 = ConvBN(cin, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(cin, pool_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class BlockB(nn.Module):
    """Grid reduction 35→17 (Mixed_6a)."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class BlockC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (Mixed_6b–6e)."""

    def __init__(self, cin: int, mid: int) -> None:
        super().__init__()
        row = {"kernel": (1, 7), "padding": (0, 3)}  # the two halves of a factorised 7×7
        col = {"kernel": (7, 1), "padding": (3, 0)}
        self.branch1x1 = ConvBN(cin, 192, 1)
        self.branch7x7_1 = ConvBN(cin, mid, 1)
        self.branch7x7_2 = ConvBN(mid, mid, **row)
        self.branch7x7_3 = ConvBN(mid, 192, **col)
        self.branch7x7dbl_1 = ConvBN(cin, mid, 1)
        self.branch7x7dbl_2 = ConvBN(mid, mid, **col)
        self.branch7x7dbl_3 = ConvBN(mid, mid, **row)
        self.branch7x7dbl_4 = ConvBN(mid, mid, **col)
        self.branch7x7dbl_5 = ConvBN(mid, 192, **row)
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            self.branch7x7dbl_5(self.branch7x7dbl_4(dbl)),
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class BlockD(nn.Module):
    """Grid reduction 17→8 (Mixed_7a)."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBN(cin, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x)))
        return torch.cat([
            self.branch3x3_2(self.branch3x3_1(x)),
            self.branch7x7x3_4(b7),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class BlockE(nn.Module):
    """8×8 block with split 1×3/3×1 outputs (Mixed_7b, and Mixed_7c with ``max_pool=True``)."""

    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(cin, 320, 1)
        self.branch3x3_1 = ConvBN(cin, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        # The TF graph's last block max-pools here; reproducing that quirk is what makes it "FID".
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _tf_avg_pool(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl),
            self.branch_pool(pooled),
        ], 1)


class InceptionV3FID(nn.Module):
    """Inception-v3 (TF 2015-12-05, FID variant) from uint8 images to 2048-d pool3 features.

    ``forward`` takes uint8 N×3×H×W (or N×1×H×W grey) images of any size and does the whole
    standard preprocessing itself, so no caller can feed it a differently scaled input by accident.
    ``weights_id`` names the loaded weights file (set by the loader) for protocol descriptions.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, max_pool=False)
        self.Mixed_7c = BlockE(2048, max_pool=True)
        self.weights_id = "random init"
        self.eval()

    def fold_batchnorm(self) -> "InceptionV3FID":
        """Inference-only speed-up (~10-20% on CPU); call after loading weights, never before."""
        for module in self.modules():
            if isinstance(module, ConvBN):
                module.fold_batchnorm()
        return self.to(memory_format=torch.channels_last)

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        """uint8 N×C×H×W → float N×3×299×299 scaled as the TF graph expects, channels_last."""
        if images.dtype != torch.uint8:
            raise TypeError(f"Inception expects uint8 images, got {images.dtype}")
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"Inception expects N×3×H×W or N×1×H×W images, got {tuple(images.shape)}")
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = (x - 128.0) / 128.0
        return x.contiguous(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed float N×3×299×299 input → N×2048 pool3 features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images → float32 N×2048 pool3 features."""
        device = next(self.parameters()).device
        return self.features(self.preprocess(images.to(device)))
