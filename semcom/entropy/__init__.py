"""Entropy layer of learned image codecs: likelihoods for training, real bitstreams after.

What each model codes
---------------------
* :class:`FactorizedPrior` codes the hyper-latent ``z`` (``(B, C, H, W)``) with a learned,
  per-channel non-parametric density (Balle et al. 2018), quantized around learned
  per-channel medians.
* :class:`GaussianConditional` codes the latent ``y`` given per-element ``means`` and
  ``scales`` (from a hyperprior and/or a context model): symbol ``round(y - mean)``,
  probability the unit-bin mass of ``N(0, scale^2)``.

Training
--------
``forward(..., mode)`` returns ``(x_hat, likelihoods)``; the rate in bits is
``-log2(likelihoods).sum()``. Modes: ``"noise"`` (add U(-1/2, 1/2), the usual training
proxy), ``"round"`` (hard rounding), ``"ste"`` (hard rounding forward, identity gradient
backward). Train ``FactorizedPrior.quantiles`` with ``aux_loss()`` on a separate optimizer.

update()
--------
After training, ``update()`` builds integer coding tables (counts summing to ``2**24``,
one row per channel or per table scale, each with an escape symbol so that every integer
round-trips). They are registered buffers: a checkpoint carries them and any machine that
loads it codes and decodes the same bytes. ``compress`` before ``update()`` raises.

Stream format
-------------
One stream is a 32-bit word count, then the little-endian 32-bit words of a
``constriction`` range coder ending with a 16-bit check word (see
:mod:`semcom.entropy.stream`). ``compress``/``decompress``
make one stream per image; for a codec that interleaves ``z`` and a multi-step context
model for ``y`` in ONE stream, call ``encode_into``/``decode_from`` on a shared
:class:`EntropyEncoder`/:class:`EntropyDecoder` in the same order on both sides, then
``finish()``. Separate streams can be framed with :func:`pack_streams` (varint count and
lengths header). Decoding bad bytes raises :class:`BitstreamError`, never hangs.

Context models
--------------
:class:`ContextModel` (:mod:`semcom.entropy.context`) predicts the latent's means and
scales step by step over a partition (:mod:`semcom.entropy.partitions`): ``quadtree``
(QP-SCCTX, 4 steps), ``checkerboard`` (2) or ``channel_autoregressive`` (5 channel groups);
its ``compress``/``decompress`` code every step into one shared stream.

Bit-exactness
-------------
The coder's probabilities come only from the integer tables: each row is handed to
``constriction.stream.model.Categorical(counts - 1, perfect=False)`` as float64 integers
summing to exactly ``2**24 - n``, which makes constriction's internal scale factor 1.0
and all its float arithmetic exact integer arithmetic (see
:meth:`semcom.entropy.tables.CdfTables.model`). Symbols are plain integer rounding of the
input; nothing depends on thread count, BLAS, or the machine.
"""

from semcom.entropy.context import ContextModel, coding_context
from semcom.entropy.errors import BitstreamError
from semcom.entropy.factorized import FactorizedPrior
from semcom.entropy.gaussian import (
    GaussianConditional,
    default_scale_table,
    gaussian_bin_probability,
)
from semcom.entropy.partitions import (
    NUM_STEPS,
    PARTITIONS,
    channel_autoregressive_masks,
    channel_group_sizes,
    checkerboard_masks,
    partition_masks,
    quadtree_masks,
    quadtree_step_map,
)
from semcom.entropy.stream import EntropyDecoder, EntropyEncoder, pack_streams, unpack_streams
from semcom.entropy.tables import PRECISION, CdfTables, counts_from_probabilities

__all__ = [
    "NUM_STEPS",
    "PARTITIONS",
    "PRECISION",
    "BitstreamError",
    "CdfTables",
    "ContextModel",
    "EntropyDecoder",
    "EntropyEncoder",
    "FactorizedPrior",
    "GaussianConditional",
    "channel_autoregressive_masks",
    "channel_group_sizes",
    "checkerboard_masks",
    "coding_context",
    "counts_from_probabilities",
    "default_scale_table",
    "gaussian_bin_probability",
    "pack_streams",
    "partition_masks",
    "quadtree_masks",
    "quadtree_step_map",
    "unpack_streams",
]
