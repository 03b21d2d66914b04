"""PHY abstraction: transport-block error rate per MCS and SNR, simulated once and cached.

Tables are made by full simulation of :class:`~semcom.phy.tb_link.TransportBlockLink`
(5G TB + LDPC + QAM, its default decoder settings) over a semcom channel, for TBs of
the link's largest size (8192 information bits; 8064 at MCS 3, 3752 at MCS 4 and 10,
see :mod:`semcom.phy.transport`). Shipped tables: ``awgn`` and ``rayleigh`` (fast
fading, ``h`` i.i.d. per symbol, perfect CSI, zero forcing). For each MCS the waterfall
is located by a short bracketing and bisection search, then simulated at three SNRs
across it, and a probit curve

    ``BLER(snr_db) = Q((snr_db - mu_db) / sigma_db)``

is fitted to all counts by maximum likelihood. :func:`bler` evaluates that curve (the
interpolation through the table's points); the raw counts are kept in the file.
Shorter TBs (payloads under one TB) have shallower waterfalls and need a small margin;
tables hold first transmissions only (no retransmission or combining).

Rebuild with ``python -m semcom.phy --channel awgn`` (or ``rayleigh``): 9-10 minutes
each with one thread on the shared 2-core machine (about 2,000 TBs of up to 8k bits).

Runs are repeatable: every MCS uses its own ``torch.Generator`` seeded from
``(seed, mcs)``; Sionna's global RNG is not used by the link.
"""

from __future__ import annotations

import json
import math
import time
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from scipy.special import erfc, ndtri

from semcom.channels.base import Channel
from semcom.errors import SemcomError
from semcom.phy.decoding import torch_threads
from semcom.phy.mcs import check_usable_mcs, usable_mcs
from semcom.phy.tb_link import TransportBlockLink

DATA_DIR = Path(__file__).resolve().parent / "data"
#: Tables shipped with the package, by channel name.
TABLE_CHANNELS = ("awgn", "rayleigh")
TABLE_VERSION = 1


def table_path(channel: str) -> Path:
    """Where the table of a channel lives (``semcom/phy/data/bler_<channel>.json``)."""
    if channel not in TABLE_CHANNELS:
        raise SemcomError(f"no BLER table for channel {channel!r} (tables: {', '.join(TABLE_CHANNELS)})")
    return DATA_DIR / f"bler_{channel}.json"


# --------------------------------------------------------------------- simulation
@torch.inference_mode()
def simulate_bler(mcs: int, snr_db: Sequence[float], num_tbs: int, channel: Channel,
                  link: TransportBlockLink | None = None,
                  generator: torch.Generator | None = None) -> list[tuple[float, int, int]]:
    """First-transmission TB error counts by full simulation.

    Args:
        mcs: usable MCS index (3..28).
        snr_db: SNRs to simulate.
        num_tbs: TBs of the link's full size per SNR.
        channel: any semcom channel (each SNR's TBs go through it as one ``(1, k)`` row).
        link: the link whose settings are simulated (default settings if None).
        generator: source of payload bits and channel randomness.

    Returns:
        ``[(snr_db, tb_errors, num_tbs), ...]``; all SNRs are decoded in one batch.
    """
    link = link or TransportBlockLink()
    with torch_threads(link.threads):
        return _simulate(mcs, snr_db, num_tbs, channel, link, generator)


def _simulate(mcs: int, snr_db: Sequence[float], num_tbs: int, channel: Channel, link: TransportBlockLink,
              generator: torch.Generator | None) -> list[tuple[float, int, int]]:
    plan = link.full_tb_plan(num_tbs, mcs)
    codec = link.codec(plan)
    llrs = []
    for snr in snr_db:
        bits = torch.randint(0, 2, (plan.num_tbs, plan.tb_bits), generator=generator).float()
        symbols = link.modulator(plan).map(codec.encode(bits))
        out = channel(symbols.reshape(1, -1), float(snr), generator)
        llrs.append(link.llrs(out, plan))
    _, crc_ok, _ = codec.decode(torch.cat(llrs))
    errors = (~crc_ok).reshape(len(snr_db), plan.num_tbs).sum(dim=1)
    return [(float(s), int(e), plan.num_tbs) for s, e in zip(snr_db, errors.tolist())]


def probit_bler(snr_db: np.ndarray | float, mu_db: float, sigma_db: float) -> np.ndarray:
    """``Q((snr_db - mu_db) / sigma_db)``."""
    return 0.5 * erfc((np.asarray(snr_db, dtype=np.float64) - mu_db) / (sigma_db * math.sqrt(2.0)))


def fit_probit(points: Sequence[tuple[float, int, int]]) -> tuple[float, float]:
    """Maximum-likelihood ``(mu_db, sigma_db)`` of a probit waterfall to binomial counts."""
    from scipy.optimize import minimize

    snr = np.array([p[0] for p in points])
    err = np.array([p[1] for p in points], dtype=np.float64)
    n = np.array([p[2] for p in points], dtype=np.float64)

    def nll(theta: np.ndarray) -> float:
        p = np.clip(probit_bler(snr, theta[0], math.exp(theta[1])), 1e-12, 1 - 1e-12)
        # weak prior on log(sigma) keeps the fit defined when the data show no transition
        return float(-(err * np.log(p) + (n - err) * np.log1p(-p)).sum() + 0.5 * (theta[1] - math.log(0.2)) ** 2)

    rate = err / n
    high, low = snr[rate >= 0.5], snr[rate < 0.5]
    mu0 = 0.5 * (high.max() + low.min()) if high.size and low.size else float(snr.mean())
    best = minimize(nll, np.array([mu0, math.log(0.2)]), method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
    return float(best.x[0]), float(math.exp(best.x[1]))


def _initial_guess_db(mcs: int, channel_name: str) -> float:
    """Shannon SNR of the MCS's spectral efficiency plus a typical gap (a start only)."""
    m = check_usable_mcs(mcs)
    shannon = 10.0 * math.log10(2.0 ** m.spectral_efficiency - 1.0)
    return shannon + (1.5 if channel_name == "awgn" else 5.0)


def waterfall(mcs: int, channel: Channel, channel_name: str, link: TransportBlockLink,
              generator: torch.Generator, num_tbs: int = 16, probe_tbs: int = 4,
              resolution_db: float = 0.25) -> dict:
    """Locate, simulate and fit the waterfall of one MCS; returns its table entry.

    Cheap probes of ``probe_tbs`` TBs first bracket the BLER-0.5 point in 1 dB steps
    and bisect the bracket down to ``resolution_db``; then three SNRs at ``mu`` and
    ``mu +- sigma`` of a first fit get ``num_tbs`` TBs each; the final probit fit uses
    every count.
    """
    points: list[tuple[float, int, int]] = []

    def probe(snr: float, n: int) -> bool:
        (s, e, t), = simulate_bler(mcs, [snr], n, channel, link, generator)
        points.append((s, e, t))
        return e / t >= 0.5

    snr = round(_initial_guess_db(mcs, channel_name), 3)
    high = probe(snr, probe_tbs)
    lo = hi = snr
    for _ in range(20):  # bracket: lo has BLER >= 0.5, hi below
        if high:
            lo, hi = hi, hi + 1.0
            if not probe(hi, probe_tbs):
                break
        else:
            lo, hi = lo - 1.0, lo
            if probe(lo, probe_tbs):
                break
    else:
        raise SemcomError(f"could not find the waterfall of MCS {mcs} on {channel_name}")
    while hi - lo > resolution_db:
        mid = round(0.5 * (lo + hi), 3)
        if probe(mid, probe_tbs):
            lo = mid
        else:
            hi = mid
    mu, sigma = fit_probit(points)
    sigma = min(max(sigma, 0.08), 0.6)
    points += simulate_bler(mcs, [round(mu + k * sigma, 3) for k in (-1.0, 0.0, 1.0)], num_tbs, channel,
                            link, generator)
    mu, sigma = fit_probit(points)
    plan = link.full_tb_plan(num_tbs, mcs)
    return {"tb_bits": plan.tb_bits, "num_code_blocks": plan.num_code_blocks,
            "coded_bits_per_tb": plan.coded_bits_per_tb, "mu_db": round(mu, 4), "sigma_db": round(sigma, 4),
            "points": sorted([list(p) for p in points])}


def build_bler_table(channel_name: str = "awgn", mcs_list: Sequence[int] | None = None, num_tbs: int = 16,
                     seed: int = 0, threads: int | None = 1, verbose: bool = True) -> dict:
    """Simulate the table of one channel (see the module notes); returns the JSON dict."""
    from semcom.channels import create_channel

    channel = create_channel(channel_name)
    link = TransportBlockLink(threads=threads)
    table: dict = {"version": TABLE_VERSION, "channel": channel.describe(),
                   "model": "BLER = Q((snr_db - mu_db) / sigma_db), ML fit to the points",
                   "decoder": {"num_iter": link.num_iter, "check_every": link.check_every,
                               "cn_update": link.cn_update, "demapping": link.demapping},
                   "num_tbs": num_tbs, "seed": seed, "mcs": {}}
    start = time.time()
    for mcs in (mcs_list or usable_mcs()):
        gen = torch.Generator().manual_seed(seed * 1000 + int(mcs))
        table["mcs"][str(mcs)] = waterfall(int(mcs), channel, channel_name, link, gen, num_tbs)
        if verbose:
            e = table["mcs"][str(mcs)]
            print(f"MCS {mcs:2d}: mu {e['mu_db']:6.2f} dB, sigma {e['sigma_db']:.2f} dB, "
                  f"BLER 0.1 at {e['mu_db'] + ndtri(0.9) * e['sigma_db']:6.2f} dB "
                  f"({time.time() - start:.0f} s)", flush=True)
    table["seconds"] = round(time.time() - start, 1)
    table["threads"] = threads
    return table


# ------------------------------------------------------------------------ look-up
@lru_cache(maxsize=4)
def load_table(channel: str = "awgn") -> dict:
    """The shipped table of a channel (parsed once)."""
    path = table_path(channel)
    if not path.is_file():
        raise SemcomError(f"BLER table {path} is missing; rebuild it with "
                          f"`python -m semcom.phy --channel {channel}`")
    return json.loads(path.read_text())


def _entry(mcs: int, channel: str) -> dict:
    m = check_usable_mcs(mcs)
    entries = load_table(channel)["mcs"]
    if str(m.index) not in entries:
        raise SemcomError(f"the {channel} BLER table has no entry for MCS {m.index}")
    return entries[str(m.index)]


def bler(mcs: int, snr_db: float | Sequence[float] | np.ndarray, channel: str = "awgn") -> float | np.ndarray:
    """Tabulated TB error rate of ``mcs`` at ``snr_db`` (first transmission).

    Returns a float for a scalar SNR, else an array of the SNRs' shape.
    """
    e = _entry(mcs, channel)
    out = probit_bler(snr_db, e["mu_db"], e["sigma_db"])
    return float(out) if np.ndim(snr_db) == 0 else out


def threshold_snr(mcs: int, target_bler: float = 0.1, channel: str = "awgn") -> float:
    """SNR (dB) at which the tabulated BLER of ``mcs`` equals ``target_bler``."""
    if not 0.0 < float(target_bler) < 1.0:
        raise SemcomError(f"target_bler must be in (0, 1), got {target_bler!r}")
    e = _entry(mcs, channel)
    return float(e["mu_db"] + ndtri(1.0 - float(target_bler)) * e["sigma_db"])


def select_mcs(snr_db: float, target_bler: float = 0.1, channel: str = "awgn", margin_db: float = 0.0,
               candidates: Sequence[int] | None = None) -> int | None:
    """Highest-rate MCS whose tabulated BLER at ``snr_db - margin_db`` is at most
    ``target_bler``; None when even the most robust candidate misses it."""
    best = None
    for mcs in candidates or usable_mcs():
        m = check_usable_mcs(mcs)
        if threshold_snr(m.index, target_bler, channel) <= snr_db - margin_db:
            if best is None or m.spectral_efficiency > check_usable_mcs(best).spectral_efficiency:
                best = m.index
    return best
