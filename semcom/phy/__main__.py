"""``python -m semcom.phy``: rebuild the shipped BLER tables by simulation.

    python -m semcom.phy nr      # semcom/phy/data/bler_nr_awgn.json (5G NR, MCS 3..28)
    python -m semcom.phy wifi    # semcom/phy/data/bler_wifi_awgn.json (802.11n (1944, 1458))

Counts go to a JSON-lines log first (``--log``); a killed run resumes from it. Two
processes can share the NR work (``--sizes large`` and ``--sizes small --log OTHER``);
``--write-only OTHER`` then writes the table from both logs without simulating.
See :mod:`semcom.phy.bler_tables` for the procedure.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Sequence

from semcom.phy.abstraction import DATA_DIR, NR_TABLE, WIFI_TABLE


def nr_entries(mcs_list: Sequence[int], sizes: str = "all") -> list[tuple[int, int]]:
    """(MCS, TBS) pairs: the link's large code block of each MCS (``sizes="large"``),
    ~1 kbit blocks and the 4-byte header's block at MCS 3 (``"small"``), or both."""
    from semcom.phy.bler_tables import single_cb_tbs

    def large(m: int) -> int:
        return single_cb_tbs(m, 2800 if m == 3 else 3768 if m in (4, 10) else 8216)

    big = [(m, large(m)) for m in mcs_list]
    small = [(m, single_cb_tbs(m, 1024)) for m in mcs_list] + ([(3, 32)] if 3 in mcs_list else [])
    return {"large": big, "small": small, "all": big + small}[sizes]


def start_db(mcs: int, tbs: int) -> float:
    """Where to look first: Shannon SNR of the MCS plus a gap that grows for short blocks."""
    from semcom.phy.mcs import check_usable_mcs

    m = check_usable_mcs(mcs)
    return 10.0 * math.log10(2.0 ** m.spectral_efficiency - 1.0) + 1.2 + (0.8 if tbs < 2000 else 0.0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m semcom.phy",
                                     description="Rebuild a BLER table of the digital PHY by simulation.")
    parser.add_argument("table", choices=("nr", "wifi"))
    parser.add_argument("--mcs", type=int, nargs="*", help="MCS indices (nr; default: all usable)")
    parser.add_argument("--sizes", choices=("all", "large", "small"), default="all",
                        help="which code-block sizes (nr; two processes can share the work)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest when busy)")
    parser.add_argument("--log", type=Path, help="counts log (default: /tmp/semcom_bler_<table>.jsonl)")
    parser.add_argument("--write-only", type=Path, nargs="*", metavar="LOG",
                        help="simulate nothing: write the table from --log and these logs (nr)")
    parser.add_argument("--out", type=Path, help="output JSON (default: the shipped table)")
    args = parser.parse_args(argv)
    log = args.log or Path(f"/tmp/semcom_bler_{args.table}.jsonl")
    start = time.time()

    def say(msg: str) -> None:
        print(f"[{time.time() - start:7.0f} s] {msg}", flush=True)

    if args.table == "nr" and args.write_only is not None:
        from semcom.phy.bler_tables import Log, write_nr_table

        merged = Log(log)
        for extra in args.write_only:
            merged.rows += Log(extra).rows
        out = args.out or DATA_DIR / NR_TABLE
        table = write_nr_table(merged, out)
    elif args.table == "nr":
        from semcom.phy.bler_tables import build_nr_tables
        from semcom.phy.mcs import usable_mcs

        out = args.out or DATA_DIR / NR_TABLE
        table = build_nr_tables(log, out, nr_entries(args.mcs or usable_mcs(), args.sizes), start_db, args.seed,
                                args.threads, say)
    else:
        from semcom.phy.bler_tables import build_wifi_table

        out = args.out or DATA_DIR / WIFI_TABLE
        table = build_wifi_table(log, out, args.seed, args.threads, say)
    print(json.dumps({"wrote": str(out), "simulation_wall_seconds": table["semcom"]["simulation_wall_seconds"]}))


if __name__ == "__main__":
    main()
