"""Simulating the BLER tables of the digital PHY, written in Sionna's JSON format.

Each entry is the first-transmission block error rate of one code-block size (CBS) at
one MCS, measured by full simulation of the project's own PHY
(:class:`~semcom.phy.tb_link.TransportBlockLink`: 5G TB CRC, LDPC with rate matching,
QAM, APP demapping, early-stopping BP, its default decoder settings) over AWGN. A
simulated block is a transport block that is exactly one code block (``CBS = TBS +
TB CRC``), with ``G`` coded bits as the link sizes it (TS 38.214 5.1.3.2, see
:mod:`semcom.phy.transport`), so Sionna's ``TBLER = 1 - (1 - BLER) ** C`` gives the
error rate of a TB of ``C`` code blocks.

Procedure per (MCS, CBS): SNRs lie on a lattice of :data:`STEP_DB` (0.25 dB). Cheap
probes (:data:`PROBE_BLOCKS` blocks) bracket the BLER-0.5 point and bisect it to one
lattice step; then the lattice is walked down until BLER >= 0.95 and up until
BLER < 0.01 in 100 blocks. Points that measure ``0.03 <= BLER <= 0.4`` get ``num_blocks`` blocks (at least 200;
more for short blocks: :func:`blocks_near_target`), other points :data:`FAR_BLOCKS`. Every count is
appended to a JSON-lines log as soon as it is measured, so a killed run resumes where
it stopped and partial results are usable (:func:`write_sionna_table`).

In the Sionna file (``category -> index -> MCS -> {"SNR_db", "CBS" -> {"BLER"}}``)
each MCS has one SNR grid shared by its CBS rows; a row's values outside its simulated
range are 1 (below its BLER >= 0.95 point) and 0 (above its BLER < 0.01 point). The
counts behind every value are kept under the file's ``"semcom"`` key.

Run ``python -m semcom.phy nr`` / ``wifi`` (see :mod:`semcom.phy.__main__`). The shipped
NR table (2026-12-01, seed 0, niced on the shared 2-core machine, about 76 min of
measurement wall time in two processes): every usable MCS 3..28 at two code-block sizes,
the link's largest (8216 bits; 3768 at MCS 4 and 10, where TBs are capped at 3752; 2720
at MCS 3, whose TBs have three code blocks) and 1000 bits, plus the 4-byte control
header's 48-bit block at MCS 3; 82,376 blocks. The 802.11n table: 16-QAM, 1,720 blocks.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from semcom.channels.base import Channel
from semcom.errors import SemcomError
from semcom.phy.decoding import torch_threads
from semcom.phy.mcs import check_usable_mcs
from semcom.phy.tb_link import TransportBlockLink
from semcom.phy.transport import TransportPlan, _tbs_info, largest_tb_size, plan_transport

#: SNR lattice of the tables (dB).
STEP_DB = 0.25
#: Blocks of a bracketing probe and of a point far from the waterfall.
PROBE_BLOCKS = 8
FAR_BLOCKS = 24
#: Sionna's category of PDSCH tables and the MCS table index (TS 38.214 table 1).
CATEGORY_PDSCH = 1
MCS_TABLE = 1


def single_cb_tbs(mcs: int, max_cbs: int) -> int:
    """Largest TBS at ``mcs`` that is one code block of at most ``max_cbs`` bits (CRC incl.)."""
    m = check_usable_mcs(mcs)
    tbs = largest_tb_size(max_cbs - 16, m.index)
    while tbs > 24:
        _, num_cb, tb_crc, _ = _tbs_info(tbs, m)
        if num_cb == 1 and tbs + tb_crc <= max_cbs:
            return tbs
        tbs = largest_tb_size(tbs - 1, m.index)
    return tbs


def block_plan(mcs: int, tbs: int, num_blocks: int) -> TransportPlan:
    """``num_blocks`` single-code-block TBs of ``tbs`` bits at ``mcs``."""
    plan = plan_transport(int(num_blocks) * int(tbs), mcs, max_tb_bits=int(tbs))
    if plan.tb_bits != tbs or plan.num_code_blocks != 1:
        raise SemcomError(f"TBS {tbs} at MCS {mcs} is not a valid single-code-block TB")
    return plan


def code_block_size(plan: TransportPlan) -> int:
    """CBS of a plan's TBs as Sionna counts it: information bits plus CRC per code block."""
    return (plan.tb_bits + plan.crc_bits_per_tb) // plan.num_code_blocks


@torch.inference_mode()
def count_errors(link: TransportBlockLink, mcs: int, tbs: int, snr_db: float, num_blocks: int,
                 channel: Channel, generator: torch.Generator) -> int:
    """Block errors among ``num_blocks`` fresh blocks at ``snr_db`` (first transmission)."""
    plan = block_plan(mcs, tbs, num_blocks)
    codec = link.codec(plan)
    bits = torch.randint(0, 2, (plan.num_tbs, plan.tb_bits), generator=generator).float()
    out = channel(link.modulator(plan).map(codec.encode(bits)).reshape(1, -1), float(snr_db), generator)
    _, ok, _ = codec.decode(link.llrs(out, plan))
    return int((~ok).sum())


def blocks_near_target(cbs: int, minimum: int = 200, max_blocks: int = 600) -> int:
    """Blocks per point near BLER 0.1: ``minimum`` for 8k-bit blocks, more for short ones
    (up to ``max_blocks``: about as many decoded bits per point, within the CPU budget)."""
    return int(min(max_blocks, max(minimum, round(minimum * 8000 / max(cbs, 1)))))


def lattice(snr: float) -> float:
    """Nearest point of the :data:`STEP_DB` lattice."""
    return round(round(snr / STEP_DB) * STEP_DB, 3)


class Log:
    """The JSON-lines log of counts: ``{"mcs", "cbs", "tbs", "snr_db", "errors", "blocks"}``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: list[dict] = []
        if self.path.is_file():
            self.rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def counts(self, mcs: int, tbs: int, snr: float) -> tuple[int, int]:
        e = n = 0
        for r in self.rows:
            if r["mcs"] == mcs and r["tbs"] == tbs and abs(r["snr_db"] - snr) < 1e-6:
                e, n = e + r["errors"], n + r["blocks"]
        return e, n

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def simulate_entry(mcs: int, tbs: int, start_db: float, log: Log, channel: Channel, link: TransportBlockLink,
                   seed: int = 0, num_blocks: int | None = None, say: Callable[[str], None] = print) -> None:
    """Measure one (MCS, CBS) waterfall into ``log`` (see the module notes); resumable."""
    cbs = code_block_size(block_plan(mcs, tbs, 1))

    def count(snr: float, blocks: int, gen: torch.Generator) -> int:
        return count_errors(link, mcs, tbs, snr, blocks, channel, gen)

    walk_waterfall(count, mcs, tbs, cbs, start_db, log, seed, num_blocks or blocks_near_target(cbs), say)


def walk_waterfall(count: Callable[[float, int, torch.Generator], int], mcs: int, tbs: int, cbs: int,
                   start_db: float, log: Log, seed: int, near: int, say: Callable[[str], None]) -> None:
    """The bracketing, bisection and lattice walk of the module notes, for any block
    error counter ``count(snr_db, blocks, generator)``."""
    gen = torch.Generator().manual_seed(seed * 100_003 + mcs * 10_007 + tbs)

    def measure(snr: float, blocks: int) -> float:
        snr = lattice(snr)
        e, n = log.counts(mcs, tbs, snr)
        if n < blocks:
            t = time.time()
            new = count(snr, blocks - n, gen)
            log.add({"mcs": mcs, "cbs": cbs, "tbs": tbs, "snr_db": snr, "errors": new, "blocks": blocks - n,
                     "seconds": round(time.time() - t, 2)})
            e, n = e + new, blocks
        return e / n

    lo = hi = lattice(start_db)  # lo: BLER >= 0.5, hi: BLER < 0.5
    if measure(lo, PROBE_BLOCKS) >= 0.5:
        while measure(hi, PROBE_BLOCKS) >= 0.5:
            lo, hi = hi, lattice(hi + 1.0)
    else:
        while measure(lo, PROBE_BLOCKS) < 0.5:
            lo, hi = lattice(lo - 1.0), lo
    while hi - lo > STEP_DB + 1e-9:
        mid = lattice(0.5 * (lo + hi))
        lo, hi = (mid, hi) if measure(mid, PROBE_BLOCKS) >= 0.5 else (lo, mid)

    def point(snr: float, blocks: int = FAR_BLOCKS) -> float:
        rate = measure(snr, blocks)
        return measure(snr, near) if 0.03 <= rate <= 0.4 else rate

    snr = lo
    while point(snr) < 0.95:
        snr = lattice(snr - STEP_DB)
    snr = hi
    while True:
        # a point under 3 % is confirmed with 100 blocks before the walk stops
        if point(snr) < 0.03 and point(snr, min(near, 100)) < 0.01:
            break
        snr = lattice(snr + STEP_DB)
    say(f"MCS {mcs:2d} CBS {cbs:5d}: waterfall {lo:.2f}..{hi:.2f} dB")


def complete(points: dict[float, list[int]]) -> bool:
    """Whether an entry's walk finished: a point with BLER >= 0.95 and, above it, one
    under 0.01 in at least 100 blocks (a run killed mid-entry leaves it out)."""
    low = [s for s, (e, n) in points.items() if e >= 0.95 * n]
    return bool(low) and any(s > max(low) and n >= 100 and e < 0.01 * n for s, (e, n) in points.items())


def write_sionna_table(log: Log, path: Path, comment: str, category: int = CATEGORY_PDSCH,
                       index: int = MCS_TABLE, meta: dict | None = None, min_rows: int = 1) -> dict:
    """Convert the log into a Sionna BLER-table file (see the module notes); returns it.
    MCS with fewer than ``min_rows`` CBS rows are left out of the table (``PHYAbstraction``
    interpolates over CBS and needs two); their counts stay under ``"semcom"``."""
    by_mcs: dict[int, dict[int, dict[float, list[int]]]] = {}
    for r in log.rows:
        cell = by_mcs.setdefault(r["mcs"], {}).setdefault(r["cbs"], {}).setdefault(round(r["snr_db"], 3), [0, 0])
        cell[0] += r["errors"]
        cell[1] += r["blocks"]
    mcs_out: dict[str, dict] = {}
    for mcs in sorted(by_mcs):
        rows = {cbs: pts for cbs, pts in by_mcs[mcs].items() if complete(pts)}
        if len(rows) < min_rows:
            continue
        grid = sorted({s for points in rows.values() for s in points})
        grid = [round(grid[0] + i * STEP_DB, 3) for i in range(int(round((grid[-1] - grid[0]) / STEP_DB)) + 1)]
        cbs_out = {}
        for cbs in sorted(rows):
            pts = rows[cbs]
            bler = []
            for s in grid:
                near = min(pts, key=lambda p: abs(p - s))
                if abs(near - s) < 1e-6:
                    bler.append(pts[near][0] / pts[near][1])
                elif s < min(pts):
                    bler.append(1.0)
                elif s > max(pts):
                    bler.append(0.0)
                else:  # a lattice gap inside the simulated range: log-linear fill
                    below = max(p for p in pts if p < s)
                    above = min(p for p in pts if p > s)
                    a, b = (max(pts[q][0] / pts[q][1], 1e-6) for q in (below, above))
                    w = (s - below) / (above - below)
                    bler.append(math.exp((1 - w) * math.log(a) + w * math.log(b)))
            cbs_out[str(cbs)] = {"BLER": bler}
        mcs_out[str(mcs)] = {"CBS": cbs_out, "SNR_db": grid}
    counts = {f"{m}/{c}": {str(s): v for s, v in sorted(p.items())} for m, r in by_mcs.items() for c, p in r.items()}
    table = {"_comment": comment, "category": {str(category): {"index": {str(index): {"MCS": mcs_out}}}},
             "semcom": {**(meta or {}), "counts [errors, blocks] by 'MCS/CBS' and SNR": counts,
                        "simulation_wall_seconds": round(sum(r.get("seconds", 0.0) for r in log.rows), 1)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1))
    return table


def build_nr_tables(log_path: Path, out: Path, entries: Iterable[tuple[int, int]],
                    start_db: Callable[[int, int], float],
                    seed: int = 0, threads: int = 1, say: Callable[[str], None] = print) -> dict:
    """Simulate ``entries`` ((MCS, TBS) pairs) over AWGN into ``log_path`` and write ``out``."""
    from semcom.channels import create_channel

    channel = create_channel("awgn")
    link = TransportBlockLink(threads=threads)
    log = Log(log_path)
    with torch_threads(threads):
        for mcs, tbs in entries:
            simulate_entry(mcs, tbs, start_db(mcs, tbs), log, channel, link, seed, say=say)
            write_nr_table(log, out, seed)
    return write_nr_table(log, out, seed)


def write_nr_table(log: Log, out: Path, seed: int = 0) -> dict:
    """The NR table file from a log (MCS with both CBS rows; see :func:`write_sionna_table`)."""
    link = TransportBlockLink()
    meta = {"channel": "awgn", "decoder": {"num_iter": link.num_iter, "check_every": link.check_every,
                                           "cn_update": link.cn_update, "demapping": link.demapping},
            "seed": seed, "step_db": STEP_DB}
    comment = ("semcom 5G NR PDSCH table 1 BLER per code block, first transmission, AWGN, simulated "
               "with semcom.phy.TransportBlockLink (semcom/phy/bler_tables.py)")
    return write_sionna_table(log, out, comment, meta=meta, min_rows=2)


def build_wifi_table(log_path: Path, out: Path, seed: int = 0, threads: int = 1,
                     say: Callable[[str], None] = print, bits_per_symbol: Sequence[int] = (4,)) -> dict:
    """The 802.11n (1944, 1458) table over AWGN (Sionna format, category 2, "MCS" =
    bits per symbol, one CBS row of 1458 bits), by full simulation of
    :class:`~semcom.phy.wifi_ldpc.WifiLDPCLink`."""
    from semcom.channels import create_channel
    from semcom.phy.wifi_ldpc import K, WifiLDPCLink

    channel = create_channel("awgn")
    log = Log(log_path)
    comment = ("semcom IEEE 802.11n (1944, 1458) LDPC block error rate, AWGN, simulated with "
               "semcom.phy.WifiLDPCLink; 'MCS' is the QAM order (bits per symbol), CBS the 1458 info bits")
    with torch_threads(threads):
        for q in bits_per_symbol:
            link = WifiLDPCLink(bits_per_symbol=int(q), threads=threads)

            def count(snr: float, blocks: int, gen: torch.Generator, link: WifiLDPCLink = link) -> int:
                payload = torch.randint(0, 256, (blocks * K // 8,), generator=gen, dtype=torch.uint8)
                d = link.send(bytes(payload.numpy().tobytes()), channel, snr, gen)
                return int((~d.block_ok).sum())

            start = 10.0 * math.log10(2.0 ** (0.75 * q) - 1.0) + 1.5
            walk_waterfall(count, int(q), K, K, start, log, seed, blocks_near_target(K), say)
            write_sionna_table(log, out, comment, category=2, index=1, meta={"channel": "awgn", "seed": seed})
    return write_sionna_table(log, out, comment, category=2, index=1, meta={"channel": "awgn", "seed": seed})
