"""VVC intra, the stand-in for VTM: vvenc and FFmpeg's native VVC decoder.

Both run in imageio-ffmpeg's bundled ``ffmpeg`` binary (a subprocess, so a decoder fault
can only fail the call, never the Python process). One 4:2:0 10-bit intra frame at a
fixed QP, perceptual QP adaptation off (we measure PSNR), written as an Annex-B byte
stream. Y'CbCr is full-range BT.601 (signalled in the VUI), converted here in numpy.

4:2:0 needs even sizes: an odd width or height is padded by one replicated column or
row, and the SPS conformance window cannot crop a single luma sample in 4:2:0, so the
bytes then start with one flag byte (bit 0: drop the last column, bit 1: drop the last
row). An Annex-B stream starts with ``0x00``, so the flag byte is unambiguous and even
sizes cost nothing extra.

FFmpeg's libvvenc wrapper holds at most ``width * height`` bytes per picture (8 bpp):
images need sides of at least 16 pixels, and a QP whose picture would overflow raises
:class:`~semcom.codecs.base.EncoderLimitError`, which ``fit`` counts as not fitting.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from semcom.codecs.base import (
    MAX_DECODE_PIXELS,
    CodecError,
    EncoderLimitError,
    ImageCodec,
    QualityKnob,
    import_optional,
)
from semcom.codecs.color import (
    dequantize_plane,
    downsample_420,
    quantize_plane,
    rgb_to_ycbcr,
    upsample_420,
    ycbcr_to_rgb,
)
from semcom.errors import MissingDependencyError
from semcom.registry import CODECS

VVENC_PRESETS = ("faster", "fast", "medium", "slow", "slower")
BIT_DEPTH = 10
ENCODE_TIMEOUT_S = 600.0
DECODE_TIMEOUT_S = 60.0


@functools.lru_cache(maxsize=4)
def _ffmpeg_supports_vvc(exe: str) -> bool:
    try:
        encoders = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, timeout=30).stdout
        decoders = subprocess.run([exe, "-hide_banner", "-decoders"], capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return b" libvvenc " in encoders and b" vvc " in decoders


def _run(command: list[str], stdin: bytes, timeout_s: float, what: str, output: Path | None = None) -> bytes:
    """Run ffmpeg; its result is read from ``output`` if given, else from stdout."""
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise CodecError(f"vvc: {what} took more than {timeout_s:g} s") from exc
    result = (output.read_bytes() if output.is_file() else b"") if output is not None else done.stdout
    if done.returncode == 0 and result:
        return result
    log = done.stderr.decode(errors="replace")
    if what == "encoding" and "Error submitting video frame" in log:
        # FFmpeg's libvvenc wrapper gives each picture an output buffer of W*H bytes
        raise EncoderLimitError("vvc: the picture needs more bytes than FFmpeg's libvvenc wrapper "
                                "holds (width x height); use a higher QP")
    errors = [line for line in log.splitlines() if "rror" in line] or log.strip().splitlines()
    raise CodecError(f"vvc: {what} failed ({errors[0].strip() if errors else f'exit code {done.returncode}'})")


def _parse_y4m(stream: bytes) -> tuple[int, int, np.ndarray]:
    """One 4:2:0 10-bit YUV4MPEG2 frame -> width, height and its uint16 samples."""
    header_end = stream.find(b"\n")
    tags = stream[:header_end].split(b" ")
    if tags[0] != b"YUV4MPEG2":
        raise CodecError("vvc: the decoder did not return a YUV4MPEG2 stream")
    fields = {t[:1]: t[1:] for t in tags[1:] if t}
    width, height = int(fields[b"W"]), int(fields[b"H"])
    if fields.get(b"C") != b"420p10":
        raise CodecError(f"vvc: expected 4:2:0 10-bit, the bitstream is {fields.get(b'C', b'?').decode()}")
    frame_start = stream.find(b"\n", header_end + 1) + 1
    if not stream[header_end + 1:frame_start].startswith(b"FRAME"):
        raise CodecError("vvc: the decoder returned no picture")
    samples = np.frombuffer(stream, dtype="<u2", offset=frame_start)
    if samples.size < width * height * 3 // 2:
        raise CodecError("vvc: the decoded picture is incomplete")
    return width, height, samples


@CODECS.register("vvc")
class VVCIntra(ImageCodec):
    """VVC intra 4:2:0 10-bit (vvenc + FFmpeg's vvc decoder, QP knob); the VTM stand-in. Slow.

    Args:
        preset: vvenc preset; ``"medium"`` (default) takes about 4 s per 768x512 encode
            on 2 cores, ``"faster"`` about a quarter of that for some tenths of a dB.
    """

    name = "vvc"
    requires = ("imageio_ffmpeg",)
    min_side = 16  # the parameter sets alone overflow the wrapper's W*H-byte buffer below that
    knob = QualityKnob("qp", 0, 63, higher_is_better=False,
                       description="vvenc quantization parameter 0-63 (lower = better)")

    def __init__(self, preset: str = "medium") -> None:
        ffmpeg = import_optional("imageio_ffmpeg", self.name, "imageio-ffmpeg")
        if preset not in VVENC_PRESETS:
            raise CodecError(f"unknown vvenc preset {preset!r} (known: {', '.join(VVENC_PRESETS)})")
        self.preset = preset
        self._exe = ffmpeg.get_ffmpeg_exe()
        if not _ffmpeg_supports_vvc(self._exe):
            raise MissingDependencyError(
                f"codec 'vvc' needs an ffmpeg with libvvenc and the vvc decoder, which {self._exe} "
                "lacks; imageio-ffmpeg>=0.6 bundles one: pip install semcom[codecs]"
            )

    def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
        height, width, _ = pixels.shape
        crop_flags = (width % 2) | ((height % 2) << 1)
        even = np.pad(pixels, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        y, cb, cr = rgb_to_ycbcr(even)
        planes = [quantize_plane(y, BIT_DEPTH)]
        planes += [quantize_plane(downsample_420(c), BIT_DEPTH) for c in (cb, cr)]
        raw = b"".join(p.astype("<u2").tobytes() for p in planes)
        command = [
            self._exe, "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", f"{even.shape[1]}x{even.shape[0]}",
            "-color_range", "pc", "-colorspace", "bt470bg", "-i", "-",
            "-frames:v", "1", "-c:v", "libvvenc", "-preset", self.preset, "-qp", str(int(quality)),
            "-qpa", "0", "-vvenc-params", "IntraPeriod=1:VideoFullRange=1", "-f", "vvc", "-y",
        ]
        # vvenc prints some warnings on stdout itself, so the stream goes to a file
        with tempfile.TemporaryDirectory(prefix="semcom-vvc-") as folder:
            output = Path(folder) / "picture.vvc"
            stream = _run(command + [str(output)], raw, ENCODE_TIMEOUT_S, "encoding", output)
        return (bytes([crop_flags]) if crop_flags else b"") + stream

    def _decode(self, data: bytes) -> np.ndarray:
        crop_flags, stream = (data[0], data[1:]) if data[0] != 0 else (0, data)
        if crop_flags > 3:
            raise CodecError("vvc: the bytes are not a VVC Annex-B stream")
        command = [
            self._exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "vvc",
            "-max_pixels", str(MAX_DECODE_PIXELS), "-i", "-",
            "-frames:v", "1", "-f", "yuv4mpegpipe", "-strict", "-1", "-",
        ]
        width, height, samples = _parse_y4m(_run(command, stream, DECODE_TIMEOUT_S, "decoding"))
        if width % 2 or height % 2:
            raise CodecError(f"vvc: expected an even picture size, got {width}x{height}")
        luma, chroma = width * height, (width // 2) * (height // 2)
        y = samples[:luma].reshape(height, width)
        cb = samples[luma:luma + chroma].reshape(height // 2, width // 2)
        cr = samples[luma + chroma:luma + 2 * chroma].reshape(height // 2, width // 2)
        rgb = ycbcr_to_rgb(
            dequantize_plane(y, BIT_DEPTH),
            upsample_420(dequantize_plane(cb, BIT_DEPTH)),
            upsample_420(dequantize_plane(cr, BIT_DEPTH)),
        )
        return rgb[: height - (crop_flags >> 1), : width - (crop_flags & 1)]
