"""Integer tables, the shared range-coder stream, escapes, framing, and multi-step coding."""

from __future__ import annotations

import constriction
import numpy as np
import pytest
import torch

from semcom.entropy import (
    BitstreamError,
    CdfTables,
    EntropyDecoder,
    EntropyEncoder,
    FactorizedPrior,
    GaussianConditional,
    counts_from_probabilities,
    pack_streams,
    unpack_streams,
)
from semcom.errors import SemcomError


def _tables(rng: np.random.Generator, rows: int = 3) -> CdfTables:
    counts = [counts_from_probabilities(rng.random(int(rng.integers(2, 40))) ** 4)
              for _ in range(rows)]
    width = max(c.size for c in counts)
    padded = np.zeros((rows, width), dtype=np.int64)
    for t, c in enumerate(counts):
        padded[t, : c.size] = c
    offsets = rng.integers(-20, 5, size=rows)
    return CdfTables(padded, np.array([c.size for c in counts]), offsets)


def test_counts_are_positive_and_sum_to_two_to_the_24():
    rng = np.random.default_rng(0)
    for n in (2, 3, 17, 1000, 65536):
        p = rng.random(n) ** 8
        p[: n // 4] = 0.0
        counts = counts_from_probabilities(p)
        assert counts.dtype == np.int64 and counts.size == n
        assert counts.min() >= 1 and int(counts.sum()) == 2**24
    counts = counts_from_probabilities(np.array([0.5, 0.25, 0.25]))
    assert counts.tolist() == [2**23, 2**22, 2**22]  # floor remainder goes to the top


@pytest.mark.parametrize("bad", [np.array([1.0]), np.array([0.0, 0.0]),
                                 np.array([1.0, np.nan]), np.ones((2, 2)), np.ones(70000)])
def test_counts_reject_bad_probabilities(bad):
    with pytest.raises(SemcomError):
        counts_from_probabilities(bad)


def test_constriction_reproduces_the_integer_counts_exactly():
    # Decode from hand-made words whose 24-bit quantile sits exactly on each cumulative
    # boundary (and just below it): the symbol flips exactly there iff constriction's
    # fixed-point model equals our counts. A plain float model does not pass this.
    rng = np.random.default_rng(1)
    p = rng.random(300) ** 6
    p[5], p[100] = 0.0, 1e-12
    counts = counts_from_probabilities(p)
    tables = CdfTables(counts[None], np.array([counts.size]), np.array([0]))
    cumulative = np.concatenate([[0], np.cumsum(counts)])

    def symbol_at(quantile_word: int, model: object) -> int:
        words = np.array([quantile_word, 0], dtype=np.uint32)
        return int(constriction.stream.queue.RangeDecoder(words).decode(model))

    ours = tables.model(0)
    for k in range(1, counts.size):
        assert symbol_at(int(cumulative[k]) << 8, ours) == k
        assert symbol_at((int(cumulative[k] - 1) << 8) | 0x80, ours) == k - 1
    naive = constriction.stream.model.Categorical(p / p.sum(), perfect=False)
    mismatches = sum(symbol_at(int(cumulative[k]) << 8, naive) != k for k in range(1, counts.size))
    assert mismatches > 0


def test_corrupt_tables_are_rejected():
    good = counts_from_probabilities(np.ones(4))
    with pytest.raises(SemcomError, match="corrupt"):
        CdfTables((good + 1)[None], np.array([4]), np.array([0]))
    with pytest.raises(SemcomError, match="corrupt"):
        CdfTables(good[None], np.array([5]), np.array([0]))
    with pytest.raises(SemcomError, match="empty"):
        CdfTables(np.zeros((0, 4)), np.zeros(0), np.zeros(0))


def test_escape_payload_round_trips_every_bit_length():
    rng = np.random.default_rng(2)
    tables = _tables(rng, rows=2)
    low = int(tables.offsets[0])
    high = low + int(tables.lengths[0]) - 2
    overflow = np.array([0, 1, 2, 3] + [2**k + d for k in range(2, 30) for d in (-1, 0, 1)]
                        + [2**30 - high - 2])
    values = np.concatenate([high + 1 + overflow, low - 1 - overflow[overflow < 2**30 - 64],
                             np.arange(low, high + 1)])
    indexes = np.zeros(values.size, dtype=np.int64)
    encoder = EntropyEncoder()
    encoder.encode(values, indexes, tables)
    decoder = EntropyDecoder(encoder.finish())
    assert np.array_equal(decoder.decode(indexes, tables), values)
    decoder.finish()


def test_several_calls_share_one_stream_in_order():
    rng = np.random.default_rng(3)
    tables = _tables(rng, rows=4)
    parts = []
    for size in (0, 1, 50, 7, 300):
        idx = rng.integers(0, 4, size=size)
        parts.append((rng.integers(-40, 40, size=size), idx))
    encoder = EntropyEncoder()
    for symbols, idx in parts:
        encoder.encode(symbols, idx, tables)
    data = encoder.finish()
    assert len(data) % 4 == 0
    decoder = EntropyDecoder(data)
    for symbols, idx in parts:
        assert np.array_equal(decoder.decode(idx, tables), symbols)
    decoder.finish()
    with pytest.raises(SemcomError, match="already"):
        encoder.finish()


def test_decoder_detects_reading_too_few_symbols():
    tables = _tables(np.random.default_rng(4))
    encoder = EntropyEncoder()
    encoder.encode(np.arange(-5, 5), np.zeros(10, dtype=np.int64), tables)
    decoder = EntropyDecoder(encoder.finish())
    decoder.decode(np.zeros(3, dtype=np.int64), tables)
    with pytest.raises(BitstreamError, match="check word"):
        decoder.finish()


def test_hyperprior_and_two_step_context_in_one_stream(gen):
    """z (factorized) then y in two checkerboard steps whose parameters depend on step 1."""
    prior = FactorizedPrior(8)
    prior.update()
    gaussian = GaussianConditional()
    gaussian.update()
    z = torch.randn(8, 4, 4, generator=gen) * 5
    y = torch.randn(16, 8, 8, generator=gen) * 6
    anchor = ((torch.arange(8).view(-1, 1) + torch.arange(8).view(1, -1)) % 2 == 0).expand(16, 8, 8)

    def step_params(z_hat, y_anchor_hat):
        base = z_hat.abs().mean() + 1.0
        scales = torch.full((16, 8, 8), float(base))
        means = torch.zeros(16, 8, 8)
        if y_anchor_hat is not None:  # the non-anchor half uses the decoded anchors
            means = means + 0.5 * y_anchor_hat.mean()
            scales = scales + y_anchor_hat.abs().mean()
        return scales, means

    encoder = EntropyEncoder()
    z_hat = prior.encode_into(encoder, z)
    scales, means = step_params(z_hat, None)
    y1 = gaussian.encode_into(encoder, y[anchor], gaussian.build_indexes(scales[anchor]),
                              means[anchor])
    scales2, means2 = step_params(z_hat, y1)
    y2 = gaussian.encode_into(encoder, y[~anchor], gaussian.build_indexes(scales2[~anchor]),
                              means2[~anchor])
    data = encoder.finish()

    decoder = EntropyDecoder(data)
    z_dec = prior.decode_from(decoder, (4, 4))
    assert torch.equal(z_dec, z_hat)
    scales, means = step_params(z_dec, None)
    y1_dec = gaussian.decode_from(decoder, gaussian.build_indexes(scales[anchor]), means[anchor])
    assert torch.equal(y1_dec, y1)
    scales2, means2 = step_params(z_dec, y1_dec)
    y2_dec = gaussian.decode_from(decoder, gaussian.build_indexes(scales2[~anchor]),
                                  means2[~anchor])
    assert torch.equal(y2_dec, y2)
    decoder.finish()


def test_pack_and_unpack_streams():
    parts = [b"", b"abc", bytes(range(256)) * 3, b"\x00"]
    packed = pack_streams(parts)
    assert unpack_streams(packed) == parts
    assert unpack_streams(packed, count=4) == parts
    assert len(packed) == sum(map(len, parts)) + 1 + 1 + 1 + 2 + 1  # varint header
    with pytest.raises(BitstreamError, match="expected 2"):
        unpack_streams(packed, count=2)
    for bad in (b"", packed[:-1], packed + b"x", b"\xff" * 12, b"\x05\x01"):
        with pytest.raises(BitstreamError):
            unpack_streams(bad)


def test_decoder_input_validation():
    with pytest.raises(SemcomError, match="must be bytes"):
        EntropyDecoder("abcd")  # type: ignore[arg-type]
    with pytest.raises(BitstreamError, match="32-bit words"):
        EntropyDecoder(b"abcde")
    tables = _tables(np.random.default_rng(5))
    with pytest.raises(SemcomError, match="integers"):
        EntropyEncoder().encode(np.zeros(2), np.zeros(2), tables)
    with pytest.raises(SemcomError, match="2 symbols but 3"):
        EntropyEncoder().encode(np.zeros(2, dtype=np.int64), np.zeros(3, dtype=np.int64), tables)


@pytest.mark.parametrize("extra", [b"\x00" * 4, b"\xff" * 4, bytes([1, 2, 3, 4]), b"\x00" * 8])
def test_trailing_or_missing_words_are_rejected(extra):
    rng = np.random.default_rng(7)
    tables = _tables(rng)
    idx = rng.integers(0, 3, size=200)
    symbols = rng.integers(-3, 30, size=200)
    enc = EntropyEncoder()
    enc.encode(symbols, idx, tables)
    data = enc.finish()
    dec = EntropyDecoder(data)
    np.testing.assert_array_equal(dec.decode(idx, tables), symbols)
    dec.finish()
    with pytest.raises(BitstreamError):
        EntropyDecoder(data + extra)
    with pytest.raises(BitstreamError):
        EntropyDecoder(data[:-4])
