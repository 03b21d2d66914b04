"""Convert original LPIPS weights into semcom's safetensors layout (run once, offline).

semcom never downloads weights. If you have the original files, convert them with
either

* the torchvision ImageNet trunk plus the LPIPS v0.1 heads::

      python -m semcom.metrics.convert_lpips --net alex \\
          --trunk alexnet-owt-7be5be79.pth --heads lpips/weights/v0.1/alex.pth \\
          -o ~/.cache/semcom/lpips_alex.safetensors

* or a saved ``lpips.LPIPS(net=...).state_dict()`` (keys ``net.slice1.0.weight``,
  ``lin0.model.1.weight``, ...)::

      python -m semcom.metrics.convert_lpips --net alex --lpips-state lpips_alex_full.pth -o ...

then pass the output path to :func:`semcom.metrics.lpips.load_lpips` or set
``SEMCOM_LPIPS_WEIGHTS``. ``.pth`` files are read with ``torch.load(weights_only=True)``;
``.safetensors`` inputs work too. Keys are renamed to ``features.{i}.weight|bias`` and
``lins.{k}.weight``; everything else (the classifier, LPIPS's fixed scaling constants)
is dropped.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import torch
from torch import Tensor

from semcom.errors import SemcomError
from semcom.metrics.lpips import LPIPS_NETS, expected_lpips_keys, save_lpips_weights

__all__ = ["convert_lpips_state_dicts", "convert_lpips_files", "main"]

_RENAMES = (
    # torchvision trunk, or LPIPS's own slices (which keep torchvision's indices)
    (
        re.compile(r"^(?:module\.)?(?:net\.)?(?:slice\d+|features)\.(\d+)\.(weight|bias)$"),
        r"features.\1.\2",
    ),
    # LPIPS heads: lin0.model.1.weight (v0.1 files), lins.0.model.1.weight, lin0.weight
    (re.compile(r"^(?:module\.)?lins?\.?(\d)\.(?:model\.1\.)?weight$"), r"lins.\1.weight"),
)


def convert_lpips_state_dicts(*state_dicts: dict[str, Tensor], net: str) -> dict[str, Tensor]:
    """Rename the tensors of one or more original state dicts into semcom's layout.

    Args:
        state_dicts: e.g. a torchvision AlexNet state dict and the LPIPS head dict, or
            one full ``lpips.LPIPS`` state dict.
        net: ``"alex"`` or ``"vgg"``.

    Returns:
        ``{key: tensor}`` with exactly the keys of :func:`expected_lpips_keys`.

    Raises:
        SemcomError: a tensor is missing or has the wrong shape.
    """
    expected = expected_lpips_keys(net)
    out: dict[str, Tensor] = {}
    for state in state_dicts:
        for key, tensor in state.items():
            for pattern, replacement in _RENAMES:
                if pattern.match(key):
                    new_key = pattern.sub(replacement, key)
                    if new_key in expected:
                        out[new_key] = tensor
                    break
    missing = [k for k in expected if k not in out]
    if missing:
        raise SemcomError(
            f"the given state dicts lack LPIPS-{net} tensors {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}: "
            "pass the trunk and the heads (or a full LPIPS state dict)"
        )
    for key, shape in expected.items():
        if tuple(out[key].shape) != shape:
            raise SemcomError(
                f"tensor {key} has shape {tuple(out[key].shape)}, expected {shape} for LPIPS-{net}"
            )
    return out


def _read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    path = Path(path)
    if not path.is_file():
        raise SemcomError(f"no such file: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load and safetensors raise many error types
        raise SemcomError(f"cannot read {path} as a state dict: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SemcomError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return {k: v for k, v in state.items() if isinstance(v, Tensor)}


def convert_lpips_files(
    output: str | os.PathLike, *inputs: str | os.PathLike, net: str = "alex"
) -> Path:
    """Read the original weight files, convert them, and write the safetensors file."""
    if not inputs:
        raise SemcomError("give the original weight files to convert")
    states = [_read_state_dict(p) for p in inputs]
    return save_lpips_weights(convert_lpips_state_dicts(*states, net=net), output, net)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m semcom.metrics.convert_lpips",
        description="Convert original LPIPS weights into semcom's safetensors layout.",
    )
    parser.add_argument("--net", choices=sorted(LPIPS_NETS), default="alex")
    parser.add_argument("--trunk", help="torchvision AlexNet/VGG-16 ImageNet state dict (.pth)")
    parser.add_argument("--heads", help="LPIPS v0.1 linear heads (alex.pth / vgg.pth)")
    parser.add_argument(
        "--lpips-state", help="a saved lpips.LPIPS state dict (instead of --trunk/--heads)"
    )
    parser.add_argument("-o", "--output", required=True, help="safetensors file to write")
    args = parser.parse_args(argv)
    inputs = [p for p in (args.lpips_state, args.trunk, args.heads) if p]
    try:
        out = convert_lpips_files(args.output, *inputs, net=args.net)
    except SemcomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}; use it with SEMCOM_LPIPS_WEIGHTS={out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
