"""Quad-LIC as an image codec of the digital link: a rate ladder of trained checkpoints.

The knob ``quality`` is the ladder index ``1..K`` (higher = more bytes): quality ``i``
codes with checkpoint ``i``, by default the zoo name ``quad_lic_q{i}`` (searched in
``$SEMCOM_ZOO`` and ``semcom/zoo/weights``), trained at lambda :data:`QUALITY_LAMBDAS`
``[i]`` (the paper's lambdas; the default ladder is q1..q4 = 0.0018 .. 0.013). Nothing is
ever downloaded: a missing checkpoint is one :class:`MissingWeightsError` (a
:class:`~semcom.codecs.base.CodecError`, and a
:class:`~semcom.errors.MissingDependencyError` so that listings of the installed codecs
skip it) naming the file and the command that trains it.

Bytes (before the CRC-32 that :class:`~semcom.codecs.base.ImageCodec` appends): one
byte with the quality index, then the Quad-LIC file of that model
(:mod:`semcom.models.quad.bitstream`: 18-byte header with the image size and the
model identifier, then one range-coder stream). A file decoded with a ladder whose
checkpoint ``i`` differs from the encoder's fails with a :class:`CodecError` naming the
model mismatch.

The constructor checks that every checkpoint exists; the weights are loaded on first
use. ``QuadLICCodec(models=[...])`` builds the codec from in-memory
:class:`~semcom.models.quad.lic.QuadLIC` models (tables are built on those that have
none).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semcom.codecs.base import CodecError, ImageCodec, QualityKnob, image_to_uint8, uint8_to_image
from semcom.errors import MissingDependencyError
from semcom.registry import CODECS

if TYPE_CHECKING:
    from semcom.models.quad.lic import QuadLIC

#: checkpoint name of ladder point ``index``
DEFAULT_PATTERN = "quad_lic_q{index}"
#: ladder points of the default codec
DEFAULT_LEVELS = 4
#: lambda each ladder index is trained at (the paper's six MSE lambdas)
QUALITY_LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.013, 5: 0.025, 6: 0.0483}
#: the training config of a ladder point
TRAIN_CONFIG = "configs/train/quad_lic_hr.yaml"


class MissingWeightsError(CodecError, MissingDependencyError):
    """A checkpoint of the Quad-LIC rate ladder is not on this machine."""


def _knob(levels: int) -> QualityKnob:
    return QualityKnob("quality", 1, levels, higher_is_better=True,
                       description=f"Quad-LIC rate-ladder point 1-{levels} (one trained checkpoint each; "
                                   "higher = more bytes)")


def train_command(index: int, pattern: str = DEFAULT_PATTERN) -> str:
    """How ladder point ``index`` is trained and shipped (one line)."""
    lmbda = QUALITY_LAMBDAS.get(index, "LAMBDA")
    name = pattern.format(index=index)
    run = f"runs/{Path(name).name}"
    return (f"semcom train {TRAIN_CONFIG} --set model.lmbda={lmbda} --set out_dir={run}, then "
            f"python -c \"from semcom.models.quad import export_checkpoint; "
            f"export_checkpoint('{run}/lic-ste/final', 'semcom/zoo/weights/{Path(name).name}')\"")


@CODECS.register("quad_lic")
class QuadLICCodec(ImageCodec):
    """Quad-LIC learned image codec (rate ladder of trained checkpoints, knob = ladder index).

    Args:
        checkpoints: one zoo name or checkpoint path per ladder point, lowest rate
            first (default: ``pattern`` for ``1..levels``).
        pattern: checkpoint name of point ``i`` (``{index}`` is replaced).
        levels: ladder size when ``checkpoints`` and ``models`` are not given.
        models: in-memory :class:`~semcom.models.quad.lic.QuadLIC` models instead of
            checkpoints (lowest rate first).

    Raises:
        MissingWeightsError: a checkpoint is not found (the message says how to train it).
    """

    name = "quad_lic"
    knob = _knob(DEFAULT_LEVELS)

    def __init__(self, checkpoints: Sequence[str] | None = None, pattern: str = DEFAULT_PATTERN,
                 levels: int = DEFAULT_LEVELS, models: Sequence["QuadLIC"] | None = None) -> None:
        from semcom.models.quad.checkpoints import resolve_checkpoint
        from semcom.models.quad.lic import QuadLIC

        self._models: dict[int, QuadLIC] = {}
        self._paths: dict[int, Path] = {}
        if models is not None:
            if checkpoints is not None:
                raise CodecError("quad_lic: give checkpoints or models, not both")
            models = list(models)
            if not models or not all(isinstance(m, QuadLIC) for m in models):
                raise CodecError("quad_lic: models must be a non-empty list of QuadLIC models")
            for i, model in enumerate(models, start=1):
                if not model.tables_ready():
                    model.update()
                self._models[i] = model.eval()
            count = len(models)
        else:
            if checkpoints is None:
                if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= 255:
                    raise CodecError(f"quad_lic: levels must be an int in 1..255, got {levels!r}")
                if "{index}" not in pattern:
                    raise CodecError(f"quad_lic: pattern must contain {{index}}, got {pattern!r}")
                sources = [pattern.format(index=i) for i in range(1, levels + 1)]
            else:
                if isinstance(checkpoints, (str, bytes)) or not checkpoints:
                    raise CodecError("quad_lic: checkpoints must be a non-empty list of zoo names or paths")
                sources = [str(c) for c in checkpoints]
                if len(sources) > 255:
                    raise CodecError("quad_lic: at most 255 ladder points")
            missing = []
            for i, source in enumerate(sources, start=1):
                path = resolve_checkpoint(source)
                if path is None:
                    missing.append((i, source))
                else:
                    self._paths[i] = path
            if missing:
                i, source = missing[0]
                more = f" (and {len(missing) - 1} more ladder points)" if len(missing) > 1 else ""
                how = train_command(i, pattern) if checkpoints is None else \
                    f"train it with {TRAIN_CONFIG} (--set model.lmbda=...)"
                raise MissingWeightsError(
                    f"quad_lic: the weights of quality {i} are missing: no zoo entry or file "
                    f"{source!r} ({Path(source).name}.safetensors + .json in $SEMCOM_ZOO, "
                    f"semcom/zoo/weights or that path){more}; nothing is downloaded: {how}")
            count = len(sources)
        self.levels = count
        self.knob = _knob(count)  # instance knob: this ladder's size

    # ------------------------------------------------------------------ models
    def model(self, quality: int) -> "QuadLIC":
        """The ladder's model for ``quality`` (loaded on first use)."""
        from semcom.models.quad.checkpoints import load_quad_lic

        index = int(quality)
        if index not in self._models:
            if index not in self._paths:
                raise CodecError(f"quad_lic: no ladder point {index} (this ladder has 1..{self.levels})")
            self._models[index] = load_quad_lic(self._paths[index])
        return self._models[index]

    # ------------------------------------------------------------------ codec API
    def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
        index = int(quality)
        return bytes([index]) + self.model(index).compress(uint8_to_image(pixels))

    def _decode(self, data: bytes) -> np.ndarray:
        if len(data) < 2:
            raise CodecError(f"quad_lic: {len(data)} bytes are too few to hold an image")
        index = data[0]
        if not 1 <= index <= self.levels:
            raise CodecError(f"quad_lic: the bytes name ladder point {index}, this ladder has 1..{self.levels}")
        return image_to_uint8(self.model(index).decompress(data[1:]))

    def describe(self) -> dict[str, Any]:
        """What the ladder is made of (for logs)."""
        return {"codec": self.name, "levels": self.levels,
                "checkpoints": {i: str(p) for i, p in self._paths.items()},
                "lambdas": {i: m.lmbda for i, m in self._models.items()}}


__all__ = ["DEFAULT_LEVELS", "DEFAULT_PATTERN", "QUALITY_LAMBDAS", "MissingWeightsError", "QuadLICCodec",
           "train_command"]
