"""Image files in and out of any codec: what ``semcom compress`` and ``semcom decompress`` do.

``compress`` writes the codec's own file, which is all its decoder needs:

* a classical codec (``jpeg``, ``webp``, ``avif``, ``hevc``, ...): its standard bitstream
  (a JPEG file, an Annex-B stream, ...; :meth:`~semcom.codecs.base.ImageCodec.unwrap`),
  at a quality (``quality``) or the best quality within a size (``bpp``);
* a learned codec's model (a zoo name like ``quad_lic_q3`` or a checkpoint path): its
  file, e.g. a Quad-LIC file (:mod:`semcom.models.quad.bitstream`: magic ``QLC``, image
  size and the model's 8-byte identifier, a hash of its config, weights and tables);
* the ``quad_lic`` ladder codec: the Quad-LIC file of the ladder point chosen by
  ``quality`` or ``bpp``.

``decompress`` reads a Quad-LIC file with the model its header names (found in the zoo
by identifier, or given), and any file Pillow reads; a file it cannot decode is one
:class:`~semcom.codecs.base.CodecError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from semcom.codecs.base import CHECKSUM_BYTES, CodecError, ImageCodec

#: extension of Quad-LIC files written by ``semcom compress``
QUAD_LIC_SUFFIX = ".qlc"
#: the ladder codec's leading byte (its point index), which the standalone file drops
LADDER_INDEX_BYTES = 1


@dataclass(frozen=True)
class CompressedFile:
    """What :func:`compress_image` wrote: ``path``, ``num_bytes``, ``bpp`` (bits per pixel
    of the image), ``codec`` (what coded it) and ``quality`` (its knob, or None)."""

    path: Path
    num_bytes: int
    bpp: float
    codec: str
    quality: float | None


def _learned_model(source: str) -> object | None:
    """The learned codec model (any of :data:`~semcom.registry.CODEC_MODELS`) a zoo name
    or checkpoint path holds, coding tables built, or None if ``source`` names no
    checkpoint."""
    from semcom.models.quad.checkpoints import resolve_checkpoint
    from semcom.zoo.checkpoint import read_checkpoint_meta
    from semcom.zoo.pretrained import checkpoint_kind, load_built

    path = resolve_checkpoint(source)
    if path is None:
        return None
    meta = read_checkpoint_meta(path)
    if checkpoint_kind(meta) != "learned_codec":
        raise CodecError(f"{source!r} is a {checkpoint_kind(meta)} checkpoint, not a learned codec")
    model = load_built(path, kind="learned_codec")
    if not (callable(getattr(model, "compress", None)) and callable(getattr(model, "decompress", None))):
        raise CodecError(f"{source!r}: learned codec {meta['system']!r} has no compress/decompress")
    return model


def compress_image(image: Tensor, output: str | Path, codec: str = "jpeg", quality: float | None = None,
                   bpp: float | None = None) -> CompressedFile:
    """Code one ``(3, H, W)`` image in ``[0, 1]`` into the file ``output``.

    Args:
        codec: a registered codec name, or a learned codec's zoo name / checkpoint path.
        quality: the codec's knob (default: its default quality); not with ``bpp``.
        bpp: the largest size in bits per pixel; the best quality within it is used.

    Raises:
        CodecError: unknown codec, both ``quality`` and ``bpp``, a size no quality fits,
            or an image the codec cannot code.
    """
    from semcom.registry import CODECS

    if quality is not None and bpp is not None:
        raise CodecError("give --quality or --bpp, not both")
    if bpp is not None and not (bpp > 0 and bpp < float("inf")):
        raise CodecError(f"bpp must be a finite number > 0, got {bpp!r}")
    pixels = image.shape[-2] * image.shape[-1]
    if codec not in CODECS:
        model = _learned_model(codec)
        if model is None:
            raise CodecError(f"unknown codec {codec!r}: neither a codec ({', '.join(CODECS.names())}) nor a "
                             "learned codec's zoo name or checkpoint")
        if quality is not None or bpp is not None:
            raise CodecError(f"{codec!r} is one trained rate point: it takes no --quality or --bpp "
                             "(use the ladder codec quad_lic for those)")
        data, chosen = model.compress(image), None  # type: ignore[attr-defined]
    else:
        coder: ImageCodec = CODECS.create(codec)
        if bpp is not None:  # the file leaves out the link's CRC-32 (and the ladder's index byte)
            dropped = CHECKSUM_BYTES + (LADDER_INDEX_BYTES if coder.name == "quad_lic" else 0)
            fit = coder.fit(image, max_bytes=int(bpp * pixels // 8) + dropped)
            if fit is None:
                raise CodecError(f"{codec}: no quality fits {bpp:g} bpp on this {image.shape[-1]}x"
                                 f"{image.shape[-2]} image")
            encoded, chosen = fit.data, fit.quality
        else:
            chosen = coder.knob.check(quality) if quality is not None else default_quality(coder)
            encoded = coder.encode(image, chosen)
        data = file_bytes(coder, encoded)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return CompressedFile(out, len(data), 8.0 * len(data) / pixels, codec, chosen)


def default_quality(coder: ImageCodec) -> float:
    """The knob value three quarters of the way from the codec's worst to its best
    (JPEG quality 75 of 1-100; the ladder's upper-middle point)."""
    knob = coder.knob
    value = knob.worst + 0.75 * (knob.best - knob.worst)
    return knob.check(int(round(value)) if knob.integer else value)


def file_bytes(coder: ImageCodec, encoded: bytes) -> bytes:
    """The standalone file of ``encoded``: the bare bitstream (the ladder codec's point
    index dropped: the Quad-LIC file names its own model)."""
    bare = coder.unwrap(encoded)
    return bare[LADDER_INDEX_BYTES:] if coder.name == "quad_lic" else bare


def decompress_file(path: str | Path, model: str | None = None) -> tuple[Tensor, str]:
    """Decode a file written by :func:`compress_image` (or any image Pillow reads).

    Args:
        model: the learned codec (zoo name or checkpoint) of a Quad-LIC file; default:
            the zoo model whose identifier the header names.

    Returns:
        ``((3, H, W) image in [0, 1], what decoded it)``.

    Raises:
        CodecError: a missing file, a Quad-LIC file whose model is not on this machine,
            corrupt, truncated or foreign bytes.
    """
    from semcom.models.quad.bitstream import MAGIC, parse_header

    file = Path(path)
    if not file.is_file():
        raise CodecError(f"cannot decompress {file}: no such file")
    data = file.read_bytes()
    if data[:len(MAGIC)] != MAGIC:
        return _decode_with_pillow(file), "pillow"
    from semcom.entropy import BitstreamError
    from semcom.models.quad.checkpoints import find_by_model_id

    try:
        model_id = parse_header(data)[2]
    except BitstreamError as e:
        raise CodecError(f"cannot decompress {file}: {e}") from None
    source = model if model is not None else find_by_model_id(model_id)
    if source is None:
        raise CodecError(f"cannot decompress {file}: it was written by Quad-LIC model {model_id.hex()}, which "
                         "is not in the zoo ($SEMCOM_ZOO or semcom/zoo/weights); give it with --model")
    decoder = _learned_model(str(source))
    if decoder is None:
        raise CodecError(f"cannot decompress {file}: no learned codec {str(source)!r}")
    try:
        return decoder.decompress(data), str(source)  # type: ignore[attr-defined]
    except BitstreamError as e:
        raise CodecError(f"cannot decompress {file}: {e}") from None


def _decode_with_pillow(file: Path) -> Tensor:
    from semcom.data.io import ImageLoadError, load_image

    try:
        return load_image(file)
    except ImageLoadError:
        raise CodecError(f"cannot decompress {file}: neither a Quad-LIC file nor an image file this machine "
                         "reads (HEVC and VVC streams decode through the digital link's codecs)") from None


__all__ = ["QUAD_LIC_SUFFIX", "CompressedFile", "compress_image", "decompress_file", "default_quality",
           "file_bytes"]
