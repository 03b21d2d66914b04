"""LPIPS (Zhang et al. 2018) from a local safetensors file; nothing is downloaded.

The network is re-implemented here in plain torch: the convolutional trunk of
AlexNet or VGG-16 (torchvision's layer indices, so the keys line up), channel-unit
normalization of five ReLU feature maps, squared differences, a non-negative 1x1
linear head per layer, spatial mean, and the sum over layers (LPIPS v0.1).

Weights file
------------
A safetensors file with float tensors named like this module's ``state_dict``:

* ``features.{i}.weight`` / ``features.{i}.bias`` for the trunk's convolutions,
  ``i`` in ``0, 3, 6, 8, 10`` (alex) or ``0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24,
  26, 28`` (vgg): :func:`expected_lpips_keys` lists every key and shape;
* ``lins.{k}.weight`` of shape ``(1, C_k, 1, 1)``, ``k = 0..4``: the LPIPS heads.

The network (``alex`` or ``vgg``) is read from the file's metadata ``net`` or, without
it, from its keys. The file is looked up at the path given, else at the environment
variable ``SEMCOM_LPIPS_WEIGHTS``. semcom ships no weights: convert the original ones
(torchvision's ImageNet AlexNet/VGG-16 state dict plus the LPIPS v0.1 head file
``alex.pth``/``vgg.pth``, or a saved ``lpips.LPIPS`` state dict) once with
``python -m semcom.metrics.convert_lpips`` (:mod:`semcom.metrics.convert_lpips`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from semcom.conventions import quantize_8bit
from semcom.errors import SemcomError

__all__ = [
    "LPIPS",
    "LPIPS_ENV_VAR",
    "LPIPS_NETS",
    "expected_lpips_keys",
    "load_lpips",
    "lpips_distance",
    "resolve_lpips_weights",
    "save_lpips_weights",
]

LPIPS_ENV_VAR = "SEMCOM_LPIPS_WEIGHTS"

# Trunk layout per network: ("conv", c_in, c_out, kernel, stride, padding), ("relu",),
# ("pool", kernel, stride); list positions are torchvision's ``features`` indices.
_ALEX = [
    ("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2),
    ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2),
    ("conv", 192, 384, 3, 1, 1), ("relu",),
    ("conv", 384, 256, 3, 1, 1), ("relu",),
    ("conv", 256, 256, 3, 1, 1), ("relu",),
]


def _vgg16() -> list[tuple]:
    layers: list[tuple] = []
    c_in = 3
    for block, (c_out, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]):
        if block:
            layers.append(("pool", 2, 2))
        for _ in range(convs):
            layers += [("conv", c_in, c_out, 3, 1, 1), ("relu",)]
            c_in = c_out
    return layers


#: Trunk layout and the ``features`` indices whose outputs LPIPS compares.
LPIPS_NETS: dict[str, tuple[list[tuple], tuple[int, ...]]] = {
    "alex": (_ALEX, (1, 4, 7, 9, 11)),
    "vgg": (_vgg16(), (3, 8, 15, 22, 29)),
}

# LPIPS's input scaling layer (after mapping [0, 1] to [-1, 1]), fixed constants.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _check_net(net: str) -> str:
    if net not in LPIPS_NETS:
        raise SemcomError(f"unknown LPIPS network {net!r}: choose one of {sorted(LPIPS_NETS)}")
    return net


def expected_lpips_keys(net: str = "alex") -> dict[str, tuple[int, ...]]:
    """Every tensor name the weights file must hold for ``net``, with its shape."""
    layers, taps = LPIPS_NETS[_check_net(net)]
    keys: dict[str, tuple[int, ...]] = {}
    for index, layer in enumerate(layers):
        if layer[0] == "conv":
            _, c_in, c_out, k, _, _ = layer
            keys[f"features.{index}.weight"] = (c_out, c_in, k, k)
            keys[f"features.{index}.bias"] = (c_out,)
    for k, tap in enumerate(taps):
        keys[f"lins.{k}.weight"] = (1, _tap_channels(layers, tap), 1, 1)
    return keys


def _tap_channels(layers: list[tuple], tap: int) -> int:
    return next(layer[2] for layer in reversed(layers[: tap + 1]) if layer[0] == "conv")


class LPIPS(nn.Module):
    """LPIPS distance network (randomly initialized; load weights with :func:`load_lpips`).

    ``forward(x, y)`` takes two ``(B, 3, H, W)`` float batches in ``[0, 1]`` and returns
    the ``(B,)`` distance (0 for identical images). It is differentiable (no rounding),
    so it can serve as a training loss; :func:`lpips` is the evaluation metric.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        self.net = _check_net(net)
        layers, taps = LPIPS_NETS[net]
        modules: list[nn.Module] = []
        for layer in layers[: max(taps) + 1]:
            if layer[0] == "conv":
                _, c_in, c_out, k, stride, pad = layer
                modules.append(nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad))
            elif layer[0] == "relu":
                modules.append(nn.ReLU())
            else:
                modules.append(nn.MaxPool2d(layer[1], stride=layer[2]))
        self.features = nn.Sequential(*modules)
        self.taps = taps
        self.lins = nn.ModuleList(
            nn.Conv2d(_tap_channels(layers, t), 1, 1, bias=False) for t in taps
        )
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _feature_maps(self, x: Tensor) -> list[Tensor]:
        x = ((2.0 * x - 1.0) - self.shift) / self.scale
        maps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                maps.append(x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return maps

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise SemcomError(
                f"LPIPS needs two (B, 3, H, W) batches, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        total = x.new_zeros(x.shape[0])
        for lin, fx, fy in zip(self.lins, self._feature_maps(x), self._feature_maps(y)):
            total = total + lin((fx - fy).pow(2)).mean(dim=(1, 2, 3))
        return total


def resolve_lpips_weights(path: str | os.PathLike | None = None) -> Path:
    """The weights file: ``path`` if given, else ``$SEMCOM_LPIPS_WEIGHTS``.

    Raises:
        SemcomError: neither is set, or the file does not exist.
    """
    hint = (
        f"convert the original weights with `python -m semcom.metrics.convert_lpips` and pass the "
        f"file's path or set {LPIPS_ENV_VAR}=/path/to/lpips_alex.safetensors; expected keys: "
        "features.<i>.weight/bias of the AlexNet or VGG-16 trunk and lins.0-4.weight "
        "(see semcom.metrics.lpips.expected_lpips_keys)"
    )
    if path is None:
        path = os.environ.get(LPIPS_ENV_VAR) or None
        if path is None:
            raise SemcomError(f"LPIPS needs a local weights file and none was given: {hint}")
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise SemcomError(f"LPIPS weights not found at {resolved}: {hint}")
    return resolved


def _infer_net(tensors: dict[str, Tensor], metadata: dict[str, str] | None) -> str:
    if metadata and "net" in metadata:
        return _check_net(metadata["net"])
    for net in LPIPS_NETS:
        if set(expected_lpips_keys(net)) == set(tensors):
            return net
    return "vgg" if "features.28.weight" in tensors else "alex"


def load_lpips(
    path: str | os.PathLike | None = None, device: torch.device | str = "cpu"
) -> LPIPS:
    """Build :class:`LPIPS` from a local safetensors file (see the module docstring).

    Raises:
        SemcomError: the file is missing, not a safetensors file, or lacks a key or has a
            wrong shape (the message names them).
    """
    from safetensors import safe_open

    resolved = resolve_lpips_weights(path)
    try:
        with safe_open(str(resolved), framework="pt") as f:
            metadata = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several error types for bad files
        raise SemcomError(
            f"{resolved} is not a readable safetensors file ({exc}); "
            "expected LPIPS weights written by semcom.metrics.convert_lpips"
        ) from None
    net = _infer_net(tensors, metadata)
    expected = expected_lpips_keys(net)
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise SemcomError(
            f"{resolved} lacks LPIPS-{net} tensors {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}; expected keys: {', '.join(expected)}"
        )
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != shape:
            raise SemcomError(
                f"{resolved}: tensor {key} has shape {tuple(tensors[key].shape)}, "
                f"expected {shape} for LPIPS-{net}"
            )
    model = LPIPS(net)
    model.load_state_dict({k: tensors[k].float() for k in expected}, strict=True)
    return model.to(device)


def save_lpips_weights(state_dict: dict[str, Tensor], path: str | os.PathLike, net: str) -> Path:
    """Write ``state_dict`` (keys of :func:`expected_lpips_keys`) as a safetensors file
    with ``net`` in its metadata; extra keys are dropped, missing ones are an error."""
    from safetensors.torch import save_file

    expected = expected_lpips_keys(net)
    missing = sorted(set(expected) - set(state_dict))
    if missing:
        raise SemcomError(f"cannot save LPIPS-{net} weights: missing {', '.join(missing)}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: state_dict[k].detach().float().contiguous().cpu() for k in expected}
    save_file(tensors, str(out), metadata={"net": net, "format": "semcom-lpips-v0.1"})
    return out


_CACHE: dict[tuple[str, float, str], LPIPS] = {}


def lpips_distance(
    reference: Tensor, reconstruction: Tensor, weights: str | os.PathLike | None = None
) -> Tensor:
    """Per-image LPIPS of 8-bit-rounded, clamped images (lower is better).

    Args:
        reference: ``(B, 3, H, W)`` float in ``[0, 1]``.
        reconstruction: ``(B, 3, H, W)`` float; clamped and rounded to 8 bits.
        weights: safetensors file; default ``$SEMCOM_LPIPS_WEIGHTS``. The loaded network
            is cached per file (path and modification time) and device.

    Returns:
        ``(B,)`` float32 distances.
    """
    for name, t in (("reference", reference), ("reconstruction", reconstruction)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise SemcomError(f"{name} must be a float (B, 3, H, W) tensor")
    resolved = resolve_lpips_weights(weights)
    key = (str(resolved.resolve()), resolved.stat().st_mtime, str(reference.device))
    if key not in _CACHE:
        _CACHE[key] = load_lpips(resolved, device=reference.device)
    with torch.no_grad():
        return _CACHE[key](quantize_8bit(reference.float()), quantize_8bit(reconstruction.float()))
