"""IEEE 802.11n (1944, 1458) LDPC code: structure of H, rank, encoding, 16-QAM waterfall."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semcom.channels.base import Channel
from semcom.errors import SemcomError
from semcom.phy.wifi_ldpc import K, N, Z, WifiLDPCEncoder, WifiLDPCLink, base_matrix, parity_check_matrix


def gf2_rank(matrix: np.ndarray) -> int:
    """Rank over GF(2) by Gaussian elimination on bit-packed rows."""
    rows = np.packbits(matrix.astype(np.uint8), axis=1).view(np.uint8).copy()
    rank = 0
    n_rows, n_cols = matrix.shape
    for col in range(n_cols):
        byte, bit = divmod(col, 8)
        mask = np.uint8(0x80 >> bit)
        candidates = np.nonzero(rows[rank:, byte] & mask)[0]
        if candidates.size == 0:
            continue
        pivot = rank + candidates[0]
        rows[[rank, pivot]] = rows[[pivot, rank]]
        others = np.nonzero(rows[:, byte] & mask)[0]
        others = others[others != rank]
        rows[others] ^= rows[rank]
        rank += 1
        if rank == n_rows:
            break
    return rank


def test_prototype_has_the_standard_parity_structure() -> None:
    bm = base_matrix()
    assert bm.shape == (6, 24) and bm.max() < Z
    parity = bm[:, 18:]
    # weight-3 first parity column: shifts 1 (top), 0 (middle row 3), 1 (bottom)
    assert parity[:, 0].tolist() == [1, -1, -1, 0, -1, 1]
    # dual diagonal of identities in the other five parity columns
    for j in range(1, 6):
        assert parity[j - 1, j] == 0 and parity[j, j] == 0
        assert all(parity[i, j] == -1 for i in range(6) if i not in (j - 1, j))
    # spot checks of the standard's shifts (row, block column, shift)
    for i, j, s in [(0, 0, 48), (0, 11, 80), (2, 6, 21), (3, 7, 34), (4, 16, 72), (5, 15, 26)]:
        assert bm[i, j] == s
    assert (bm >= 0).sum() == 85


def test_lifted_matrix_shape_rank_and_no_four_cycles() -> None:
    h = parity_check_matrix()
    assert h.shape == (N - K, N) == (486, 1944)
    assert h.nnz == 85 * Z
    # P_48 in block (0, 0): row r has its one at column (r + 48) mod 81
    dense = h.toarray()
    assert dense[0, 48] == 1 and dense[80, 47] == 1 and dense[:Z, :Z].sum() == Z
    assert gf2_rank(dense) == 486
    # girth >= 6: no two checks share more than one variable
    overlap = (h.astype(np.int32) @ h.T.astype(np.int32)).toarray()
    np.fill_diagonal(overlap, 0)
    assert overlap.max() == 1


def test_encoder_is_systematic_and_satisfies_every_check(gen: torch.Generator) -> None:
    info = torch.randint(0, 2, (40, K), generator=gen).float()
    code = WifiLDPCEncoder()(info)
    assert code.shape == (40, N)
    assert torch.equal(code[:, :K], info)
    h = torch.from_numpy(parity_check_matrix().toarray().astype(np.float32))
    assert (torch.remainder(code @ h.T, 2) == 0).all()
    # linear code: the sum of two codewords is a codeword; parity depends on all info blocks
    assert (torch.remainder((code[0] + code[1]) @ h.T, 2) == 0).all()
    with pytest.raises(SemcomError):
        WifiLDPCEncoder()(torch.zeros(1, 1000))


def test_channel_uses_with_16qam() -> None:
    link = WifiLDPCLink()
    assert link.channel_uses(0) == 0
    assert link.channel_uses(100) == 486  # 800 bits -> 1 block -> 1944 / 4
    assert link.channel_uses(183) == 2 * 486  # 1464 bits -> 2 blocks
    assert WifiLDPCLink(bits_per_symbol=6).channel_uses(100) == 324


def test_waterfall_with_16qam_over_awgn(gen: torch.Generator) -> None:
    """Rate 3/4 x 16-QAM carries 3 bits/symbol: the capacity limit is 10 log10(7) = 8.45 dB."""
    link = WifiLDPCLink(bits_per_symbol=4)
    payload = bytes(torch.randint(0, 256, (20 * K // 8,), generator=gen, dtype=torch.uint8).tolist())
    limit = 10 * math.log10(2 ** 3 - 1)
    low = link.send(payload, Channel(), limit - 0.5, gen)
    high = link.send(payload, Channel(), limit + 3.5, gen)
    assert low.block_ok.numel() == 20
    assert (~low.block_ok).float().mean() > 0.9
    assert (~high.block_ok).float().mean() < 0.1
    assert high.payload == payload and high.channel_uses == 20 * 486
