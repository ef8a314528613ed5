"""Translate stylegan2-ada-pytorch constructor kwargs into ganvas's G/D kwargs.

Every reference setting is either translated, checked against the only value ganvas implements
(with a clear error otherwise), or ignored because it changes nothing in fp32 inference/training
(mixed precision, memory format, layer freezing, the label mapping of unconditional nets).
Errors are ``ValueError``; the importer prefixes them with the file name.
"""

from __future__ import annotations

from typing import Any

REFERENCE_FILTER = [1, 3, 3, 1]
# Settings with no effect on the maths of an unconditional fp32 network.
_IGNORED = {"num_fp16_res", "fp16_channels_last", "channels_last", "freeze_layers", "cmap_dim",
            "embed_features", "mapping_kwargs"}


def _take(kwargs: dict, key: str, default: Any) -> Any:
    value = kwargs.get(key, default)
    return default if value is None and default is not None else value


def _require(kwargs: dict, key: str, expected: Any, what: str) -> None:
    value = kwargs.get(key)
    comparable = list(value) if isinstance(value, (list, tuple)) else value
    if value is not None and comparable != expected:
        raise ValueError(f"{what} {key}={value!r} is not supported (ganvas implements "
                         f"{expected!r})")


def _clamp(kwargs: dict) -> float | None:
    value = kwargs.get("conv_clamp")
    return None if value is None else float(value)


def _check_known(kwargs: dict, known: set[str], what: str) -> None:
    unknown = set(kwargs) - known - _IGNORED
    if unknown:
        raise ValueError(f"{what}: unsupported settings {', '.join(sorted(unknown))}")


def _classes(init: dict) -> dict:
    """``{"c_dim": K}`` for a conditional network, nothing for an unconditional one."""
    c_dim = int(init.get("c_dim") or 0)
    return {"c_dim": c_dim} if c_dim else {}


def generator_kwargs(init: dict) -> dict:
    """``training.networks.Generator`` kwargs → ``ganvas...Generator`` kwargs."""
    _check_known(init, {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels",
                        "mapping_kwargs", "synthesis_kwargs"}, "generator")
    mapping = dict(init.get("mapping_kwargs") or {})
    synthesis = dict(init.get("synthesis_kwargs") or {})
    _check_known(mapping, {"num_layers", "layer_features", "embed_features", "activation",
                           "lr_multiplier", "w_avg_beta"}, "generator mapping")
    _check_known(synthesis, {"channel_base", "channel_max", "conv_clamp", "architecture",
                             "resample_filter", "use_noise", "activation", "kernel_size"},
                 "generator synthesis")
    w_dim = int(init["w_dim"])
    for name in ("layer_features", "embed_features"):
        if mapping.get(name) not in (None, w_dim):
            raise ValueError(f"generator mapping {name} must equal w_dim")
    _require(mapping, "activation", "lrelu", "generator mapping")
    _require(synthesis, "architecture", "skip", "generator synthesis")
    _require(synthesis, "resample_filter", REFERENCE_FILTER, "generator synthesis")
    _require(synthesis, "use_noise", True, "generator synthesis")
    _require(synthesis, "activation", "lrelu", "generator synthesis")
    _require(synthesis, "kernel_size", 3, "generator synthesis")
    return dict(z_dim=int(init["z_dim"]), w_dim=w_dim, resolution=int(init["img_resolution"]),
                img_channels=int(init["img_channels"]),
                channel_base=int(_take(synthesis, "channel_base", 32768)),
                channel_max=int(_take(synthesis, "channel_max", 512)),
                map_layers=int(_take(mapping, "num_layers", 8)),
                conv_clamp=_clamp(synthesis),
                mapping_lr=float(_take(mapping, "lr_multiplier", 0.01)),
                w_avg_beta=float(_take(mapping, "w_avg_beta", 0.995)),
                **_classes(init))


def discriminator_kwargs(init: dict) -> dict:
    """``training.networks.Discriminator`` kwargs → ``ganvas...Discriminator`` kwargs."""
    _check_known(init, {"c_dim", "img_resolution", "img_channels", "architecture",
                        "channel_base", "channel_max", "conv_clamp", "block_kwargs",
                        "mapping_kwargs", "epilogue_kwargs", "cmap_dim"}, "discriminator")
    block = dict(init.get("block_kwargs") or {})
    epilogue = dict(init.get("epilogue_kwargs") or {})
    mapping = dict(init.get("mapping_kwargs") or {})
    _check_known(mapping, {"num_layers", "activation", "lr_multiplier"},
                 "discriminator mapping")
    _require(mapping, "activation", "lrelu", "discriminator mapping")
    if float(mapping.get("lr_multiplier", 0.01)) != 0.01:
        raise ValueError("discriminator mapping lr_multiplier must be 0.01")
    _require(mapping, "num_layers", 8, "discriminator mapping")  # what ganvas rebuilds
    if init.get("cmap_dim") is not None:
        raise ValueError("discriminator cmap_dim must be the default (D's 4x4 channels)")
    _check_known(block, {"activation", "resample_filter"}, "discriminator block")
    _check_known(epilogue, {"mbstd_group_size", "mbstd_num_channels", "activation"},
                 "discriminator epilogue")
    architecture = init.get("architecture", "resnet")
    if architecture not in ("resnet", "orig"):
        raise ValueError(f"discriminator architecture={architecture!r} is not supported "
                         "(ganvas implements 'resnet' and 'orig')")
    _require(block, "activation", "lrelu", "discriminator block")
    _require(block, "resample_filter", REFERENCE_FILTER, "discriminator block")
    _require(epilogue, "activation", "lrelu", "discriminator epilogue")
    group = epilogue.get("mbstd_group_size", 4)
    return dict(resolution=int(init["img_resolution"]), img_channels=int(init["img_channels"]),
                channel_base=int(_take(init, "channel_base", 32768)),
                channel_max=int(_take(init, "channel_max", 512)),
                mbstd_group=None if group is None else int(group),
                mbstd_channels=int(_take(epilogue, "mbstd_num_channels", 1)),
                architecture=architecture, conv_clamp=_clamp(init), **_classes(init))
