"""PHY abstraction: BLER tables read by Sionna's ``PHYAbstraction``, effective SNR,
and MCS selection.

The 5G NR table (``semcom/phy/data/bler_nr_awgn.json``, simulated with the project's
own PHY by :mod:`semcom.phy.bler_tables`) is in Sionna's format and loaded by
``sionna.sys.PHYAbstraction`` (category 1 = PDSCH, MCS table 1), which interpolates
``log10(BLER)`` bilinearly over (code-block size, SNR) on a fine grid. Lookups here
read that grid at the two neighbouring SNR points and interpolate between them (no
0.05 dB quantization). A TB of ``C`` code blocks fails with ``1 - (1 - BLER) ** C``
(Sionna's TBLER).

Fading: the effective SNR of a TB is Sionna's exponential effective SINR mapping
(EESM, ``sionna.sys.EESM`` with its MCS table-1 ``beta``):
``snr_eff = -beta * log(mean(exp(-sinr_i / beta)))`` over the TB's symbols, with
``sinr_i = |h_i|^2 / sigma2`` after zero forcing (0 for erased symbols). For MCS
selection before sending over fast Rayleigh fading the mean is the expectation over
``|h|^2 ~ Exp(1)``: ``snr_eff = beta * log(1 + snr / beta)`` (:func:`effective_snr_db`);
for block fading, selection uses the average SNR (the realisation is unknown to the
transmitter). No separate Rayleigh table is kept.

Selection (:func:`select_mcs`) is Sionna's inner-loop rule (the highest-rate MCS whose
TBLER at the effective SNR is at most the target) evaluated here rather than with
``sionna.sys.InnerLoopLinkAdaptation``: that class sizes one TB of ``C`` code blocks
from the whole allocation, while this link sends TBs of at most 8192 bits, each with
its own CRC and HARQ process, so each MCS is judged on the TBs the link would send.

The 802.11n table (``bler_wifi_awgn.json``, same format, category 2, "MCS" = bits per
symbol) has a single code-block size (1458 bits), which ``PHYAbstraction``'s
two-dimensional interpolation cannot take; it is interpolated here the same way
(linear in ``log10(BLER)`` over SNR).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from semcom.errors import SemcomError
from semcom.phy.mcs import check_usable_mcs, usable_mcs

DATA_DIR = Path(__file__).resolve().parent / "data"
NR_TABLE = "bler_nr_awgn.json"
WIFI_TABLE = "bler_wifi_awgn.json"
#: Sionna's category of the NR table (PDSCH), MCS table index, 802.11n category.
NR_CATEGORY, MCS_TABLE_INDEX, WIFI_CATEGORY = 1, 1, 2
#: ``PHYAbstraction`` interpolation grids: SNR (dB) and code-block size (bits).
SNR_GRID = (-8.0, 28.0, 0.05)
CBS_GRID = (24, 8472, 64)
#: Channels the selection knows: AWGN and fast Rayleigh fading (EESM); others use AWGN.
SELECTION_CHANNELS = ("awgn", "rayleigh")


@lru_cache(maxsize=2)
def phy_abstraction(path: str | None = None):  # -> sionna.sys.PHYAbstraction
    """Sionna's ``PHYAbstraction`` on the NR table (built once per process, ~1 s)."""
    import warnings

    from sionna.sys import PHYAbstraction

    file = Path(path) if path else DATA_DIR / NR_TABLE
    if not file.is_file():
        raise SemcomError(f"BLER table {file} is missing; rebuild it with `python -m semcom.phy nr`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PHYAbstraction(load_bler_tables_from=[str(file)], snr_db_interp_min_max_delta=SNR_GRID,
                              cbs_interp_min_max_delta=CBS_GRID, precision="double", device="cpu")


@lru_cache(maxsize=1)
def eesm_beta() -> tuple[float, ...]:
    """EESM ``beta`` per MCS of table 1 (Sionna's calibration, ``sionna.sys.EESM``)."""
    import sionna.sys

    path = Path(sionna.sys.__file__).parent / "esm_params" / "eesm_beta_table.json"
    return tuple(float(b) for b in json.loads(path.read_text())["index"][str(MCS_TABLE_INDEX)])


def code_block_bler(mcs: int, cbs: int, snr_db: float | np.ndarray) -> np.ndarray:
    """Per-code-block BLER of ``mcs`` for code blocks of ``cbs`` bits at ``snr_db``
    (AWGN or effective SNR), from ``PHYAbstraction``'s interpolated table."""
    import torch

    m = check_usable_mcs(mcs)
    if m.index not in tabulated_mcs():
        have = ", ".join(map(str, tabulated_mcs()))
        raise SemcomError(f"the NR BLER table has no entry for MCS {m.index} (has {have})")
    pa = phy_abstraction()
    snr = np.atleast_1d(np.asarray(snr_db, dtype=np.float64))
    lo_db, hi_db, step = SNR_GRID
    pos = np.clip((snr - lo_db) / step, 0.0, round((hi_db - lo_db) / step) - 1e-9)
    below = np.floor(pos)
    grid = np.stack([lo_db + below * step, lo_db + (below + 1) * step])
    values = pa.get_bler(m.index, MCS_TABLE_INDEX, NR_CATEGORY, int(cbs),
                         torch.as_tensor(10.0 ** (grid / 10.0))).numpy()
    w = pos - below
    both = (values[0] > 0) & (values[1] > 0)
    log = (1 - w) * np.log(np.where(both, values[0], 1.0)) + w * np.log(np.where(both, values[1], 1.0))
    out = np.where(both, np.exp(log), (1 - w) * values[0] + w * values[1])
    return np.clip(out.reshape(np.shape(snr_db)), 0.0, 1.0)


def tb_error_rate(mcs: int, cbs: int, num_code_blocks: int, snr_db: float | np.ndarray) -> np.ndarray:
    """``1 - (1 - BLER) ** C``: error rate of a TB of ``C`` code blocks of ``cbs`` bits."""
    return 1.0 - (1.0 - code_block_bler(mcs, cbs, snr_db)) ** int(num_code_blocks)


def effective_snr_db(snr_db: float, mcs: int, channel: str = "awgn") -> float:
    """SNR (dB) of the AWGN channel equivalent to ``channel`` at ``snr_db`` for ``mcs``:
    itself for AWGN, ``beta * log(1 + snr / beta)`` (EESM over ``|h|^2 ~ Exp(1)``) for
    fast Rayleigh fading."""
    if channel == "awgn":
        return float(snr_db)
    if channel != "rayleigh":
        raise SemcomError(f"selection channel must be one of {', '.join(SELECTION_CHANNELS)}, got {channel!r}")
    beta = eesm_beta()[check_usable_mcs(mcs).index]
    return 10.0 * math.log10(beta * math.log1p(10.0 ** (snr_db / 10.0) / beta))


def eesm_db(sinr: np.ndarray, mcs: int) -> np.ndarray:
    """EESM effective SNR (dB) over the last axis of linear per-symbol SINRs (0 = erased)."""
    beta = eesm_beta()[check_usable_mcs(mcs).index]
    x = np.asarray(sinr, dtype=np.float64) / beta
    # -beta * log(mean(exp(-x))), stable: factor out the smallest x
    xm = x.min(axis=-1, keepdims=True)
    mean = np.exp(-(x - xm)).mean(axis=-1, keepdims=True)
    eff = beta * (xm - np.log(mean))[..., 0]
    return 10.0 * np.log10(np.maximum(eff, 1e-30))


@lru_cache(maxsize=1)
def tabulated_mcs() -> tuple[int, ...]:
    """MCS indices the NR table has (the selection's candidates)."""
    table = phy_abstraction().bler_table["category"][NR_CATEGORY]["index"][MCS_TABLE_INDEX]["MCS"]
    return tuple(sorted(int(m) for m in table if int(m) in usable_mcs()))


def full_tb(mcs: int) -> tuple[int, int]:
    """``(cbs, C)`` of the largest TB the link uses at ``mcs`` (the table's large rows)."""
    from semcom.phy.tb_link import TransportBlockLink

    plan = TransportBlockLink().full_tb_plan(1, mcs)
    return (plan.tb_bits + plan.crc_bits_per_tb) // plan.num_code_blocks, plan.num_code_blocks


def bler(mcs: int, snr_db: float | Sequence[float] | np.ndarray, channel: str = "awgn",
         cbs: int | None = None, num_code_blocks: int = 1) -> float | np.ndarray:
    """Tabulated first-transmission TB error rate of ``mcs`` at ``snr_db`` over
    ``channel`` (``"awgn"`` or ``"rayleigh"``), for TBs of ``num_code_blocks`` code
    blocks of ``cbs`` bits (default: the link's largest TB). A float for a scalar SNR."""
    if cbs is None:
        cbs, num_code_blocks = full_tb(mcs)
    snr = np.asarray(snr_db, dtype=np.float64)
    eff = np.vectorize(lambda s: effective_snr_db(float(s), mcs, channel))(snr) if snr.ndim else \
        effective_snr_db(float(snr), mcs, channel)
    out = tb_error_rate(mcs, cbs, num_code_blocks, eff)
    return float(out) if np.ndim(snr_db) == 0 else out


def threshold_snr(mcs: int, target_bler: float = 0.1, channel: str = "awgn", cbs: int | None = None,
                  num_code_blocks: int = 1) -> float:
    """SNR (dB) at which the tabulated TB error rate of ``mcs`` equals ``target_bler``."""
    if not 0.0 < float(target_bler) < 1.0:
        raise SemcomError(f"target_bler must be in (0, 1), got {target_bler!r}")
    lo, hi = SNR_GRID[0], SNR_GRID[1] + (20.0 if channel == "rayleigh" else 0.0)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if bler(mcs, mid, channel, cbs, num_code_blocks) > target_bler else (lo, mid)
    return round(0.5 * (lo + hi), 4)


def select_mcs(snr_db: float, target_bler: float = 0.1, channel: str = "awgn", margin_db: float = 0.0,
               candidates: Sequence[int] | None = None, channel_uses: int | None = None,
               max_tb_bits: int | None = None) -> int | None:
    """Highest-rate MCS whose tabulated TB error rate at ``snr_db - margin_db`` is at
    most ``target_bler`` (inner-loop link adaptation); None when none meets it.

    With ``channel_uses`` (the allocation), each MCS is judged on the TBs the link
    would send in it (TS 38.214 sizing: their code-block size and count); otherwise
    on its largest TB.
    """
    if not 0.0 < float(target_bler) < 1.0:
        raise SemcomError(f"target_bler must be in (0, 1), got {target_bler!r}")
    return _select(float(snr_db) - float(margin_db), float(target_bler), channel,
                   tuple(candidates) if candidates else None, channel_uses, max_tb_bits)


@lru_cache(maxsize=4096)
def _select(snr_db: float, target_bler: float, channel: str, candidates: tuple[int, ...] | None,
            channel_uses: int | None, max_tb_bits: int | None) -> int | None:
    from semcom.phy.tb_link import TransportBlockLink

    link = TransportBlockLink(**({"max_tb_bits": int(max_tb_bits)} if max_tb_bits else {}))
    best = None
    for mcs in candidates or tabulated_mcs():
        m = check_usable_mcs(mcs)
        if best is not None and m.spectral_efficiency <= check_usable_mcs(best).spectral_efficiency:
            continue
        plan = None
        if channel_uses is not None:
            payload = link.max_payload_bytes(int(channel_uses), m.index)
            plan = link.plan(8 * payload, m.index) if payload else None
            if plan is None:
                continue
        plan = plan or link.full_tb_plan(1, m.index)
        cbs = (plan.tb_bits + plan.crc_bits_per_tb) // plan.num_code_blocks
        if bler(m.index, snr_db, channel, cbs, plan.num_code_blocks) <= target_bler:
            best = m.index
    return best


@lru_cache(maxsize=1)
def wifi_table(path: str | None = None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{bits_per_symbol: (snr_db, bler)}`` of the 802.11n table."""
    file = Path(path) if path else DATA_DIR / WIFI_TABLE
    if not file.is_file():
        raise SemcomError(f"BLER table {file} is missing; rebuild it with `python -m semcom.phy wifi`")
    mcs = json.loads(file.read_text())["category"][str(WIFI_CATEGORY)]["index"]["1"]["MCS"]
    return {int(q): (np.array(e["SNR_db"]), np.array(next(iter(e["CBS"].values()))["BLER"])) for q, e in mcs.items()}


def wifi_bler(bits_per_symbol: int, snr_db: float | np.ndarray) -> np.ndarray:
    """Tabulated error rate of one 802.11n (1944, 1458) block at ``snr_db`` (AWGN)."""
    table = wifi_table()
    if int(bits_per_symbol) not in table:
        raise SemcomError(f"the 802.11n BLER table has no entry for {bits_per_symbol} bits per symbol "
                          f"(has {sorted(table)})")
    snr, rate = table[int(bits_per_symbol)]
    log = np.interp(np.asarray(snr_db, dtype=np.float64), snr, np.log10(np.maximum(rate, 1e-9)),
                    left=0.0, right=-9.0)
    return np.where(log <= -9.0 + 1e-9, 0.0, 10.0 ** log)
