"""Quad-LIC (``quad_deepsc.txt``): ELIC-style learned image codec with the quadtree
context model, real range-coded bitstreams, and its checkpoints.

* :mod:`.lic`: :class:`QuadLIC` (``forward(x, mode)``, ``compress`` / ``decompress``),
  :data:`PRESETS`, :data:`LAMBDAS`;
* :mod:`.bitstream`: the file header (magic, version, image size, model identifier);
* :mod:`.checkpoints`: :func:`load_quad_lic` (trainer output or zoo file) and
  :func:`export_checkpoint` (zoo file of kind ``learned_codec``);
* :mod:`.train`: the ``quad_lic_train`` training wrapper, registered in
  ``SYSTEMS`` only when that module is imported (configs list it under ``imports``).

The image codec of the digital link is :class:`semcom.codecs.quad_lic.QuadLICCodec`
(codec ``quad_lic``).
"""

from semcom.models.quad.bitstream import HEADER_BYTES, ModelMismatchError
from semcom.models.quad.checkpoints import export_checkpoint, load_quad_lic
from semcom.models.quad.lic import LAMBDAS, PRESETS, SIZE_MULTIPLE, QuadLIC

__all__ = ["HEADER_BYTES", "LAMBDAS", "PRESETS", "SIZE_MULTIPLE", "ModelMismatchError", "QuadLIC",
           "export_checkpoint", "load_quad_lic"]
