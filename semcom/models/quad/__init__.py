"""Quad-LIC (``quad_deepsc.txt``): ELIC-style learned image codec with the quadtree
context model, real range-coded bitstreams, and its checkpoints.

* :mod:`.lic`: :class:`QuadLIC` (``code(x, mode)``, ``compress`` / ``decompress``; a
  :class:`~semcom.codecs.learned.LearnedCodecModel` registered as ``quad_lic`` in
  :data:`~semcom.registry.CODEC_MODELS`, so ``semcom train`` trains it directly),
  :data:`PRESETS`, :data:`LAMBDAS`;
* :mod:`.bitstream`: the file header (magic, version, image size, model identifier);
* :mod:`.checkpoints`: :func:`load_quad_lic` (trainer output or zoo file) and
  :func:`export_checkpoint` (zoo file of kind ``learned_codec``);

* :mod:`.deepsc`: :class:`QuadDeepSC`, the system ``quad_deepsc`` (Quad-LIC plus the
  step-wise feature coding of :mod:`.feature_coding` over the units of :mod:`.units`,
  with the rate matching and side information of :mod:`.rate_matching`).

The image codec of the digital link is :class:`semcom.codecs.quad_lic.QuadLICCodec`
(codec ``quad_lic``).
"""

from semcom.models.quad.bitstream import HEADER_BYTES, ModelMismatchError
from semcom.models.quad.checkpoints import export_checkpoint, load_quad_lic
from semcom.models.quad.lic import LAMBDAS, PRESETS, SIZE_MULTIPLE, QuadLIC
from semcom.models.quad.deepsc import QuadDeepSC  # noqa: E402  (registers quad_deepsc)

__all__ = ["HEADER_BYTES", "LAMBDAS", "PRESETS", "SIZE_MULTIPLE", "ModelMismatchError", "QuadDeepSC", "QuadLIC",
           "export_checkpoint", "load_quad_lic"]
