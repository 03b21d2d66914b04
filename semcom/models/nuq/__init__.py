"""``nuq``: feature-driven non-uniform quantization of Swin features over a digital link
(see :mod:`semcom.models.nuq.model`; importing this package registers the system).

* :mod:`.network`: the two-stage Swin encoder and decoder;
* :mod:`.bits`: payload bits <-> QAM symbols (uncoded or 5G LDPC), LLRs, hard and soft
  dequantization;
* :mod:`.model`: :class:`NUQ`, the :class:`~semcom.models.base.JSCCModel`.
"""

from semcom.models.nuq.model import NUQ

__all__ = ["NUQ"]
