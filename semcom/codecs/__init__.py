"""Image codecs behind one interface: ``encode``, ``decode`` and ``fit`` to a byte budget.

>>> codec = create_codec("jpeg")
>>> result = codec.fit(image, max_bytes=12_288)   # (3, H, W) float in [0, 1]
>>> reconstruction = codec.decode(result.data)

Classical codecs: ``jpeg``, ``jpeg2000``, ``webp``, ``avif`` (Pillow) and, with the
optional extra ``pip install semcom[codecs]`` (wheels that bundle GPL encoders),
``heic`` (pillow-heif), ``hevc`` (x265 via PyAV), ``vvc`` (vvenc via imageio-ffmpeg) and
``jpegxl`` (imagecodecs). Learned: ``quad_lic`` (a rate ladder of trained Quad-LIC
checkpoints; :mod:`semcom.codecs.learned` is the contract of a learned codec's model,
which ``semcom train`` trains directly).
"""

from __future__ import annotations

from typing import Any

from semcom.codecs import avif, heic, hevc, jpeg, jpeg2000, jpegxl, quad_lic, vvc, webp  # noqa: F401  (registers)
from semcom.codecs.base import (
    CHECKSUM_BYTES,
    CODECS_EXTRA,
    CodecError,
    EncoderLimitError,
    FitResult,
    ImageCodec,
    QualityKnob,
    import_optional,
)
from semcom.errors import MissingDependencyError
from semcom.registry import CODECS

__all__ = [
    "CHECKSUM_BYTES",
    "CODECS_EXTRA",
    "CodecError",
    "EncoderLimitError",
    "FitResult",
    "ImageCodec",
    "QualityKnob",
    "available_codecs",
    "create_codec",
    "import_optional",
    "list_codecs",
]


def create_codec(name: str, **kwargs: Any) -> ImageCodec:
    """Build the codec registered under ``name`` (e.g. ``create_codec("avif", speed=8)``).

    Raises:
        UnknownNameError: no codec has that name.
        MissingDependencyError: its optional package is not installed.
    """
    return CODECS.create(name, **kwargs)


def list_codecs(pattern: str = "*") -> list[str]:
    """Every registered codec name matching a shell-style ``pattern``, installed or not."""
    return CODECS.names(pattern)


def available_codecs(pattern: str = "*") -> list[str]:
    """The registered codecs whose dependencies are installed (each is built once to check)."""
    names = []
    for name in CODECS.names(pattern):
        try:
            CODECS.create(name)
        except MissingDependencyError:
            continue
        names.append(name)
    return names
