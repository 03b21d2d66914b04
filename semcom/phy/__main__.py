"""``python -m semcom.phy``: rebuild a shipped BLER table (see :mod:`semcom.phy.bler`).

    python -m semcom.phy --channel awgn       # semcom/phy/data/bler_awgn.json
    python -m semcom.phy --channel rayleigh   # fast Rayleigh fading, perfect CSI
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from semcom.phy.bler import TABLE_CHANNELS, build_bler_table, table_path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m semcom.phy",
                                     description="Rebuild a BLER table of the digital PHY by simulation.")
    parser.add_argument("--channel", default="awgn", choices=TABLE_CHANNELS)
    parser.add_argument("--num-tbs", type=int, default=16, help="TBs per SNR of the final three points")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mcs", type=int, nargs="*", help="MCS indices (default: all usable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest when busy)")
    parser.add_argument("--out", type=Path, help="output JSON (default: the shipped table)")
    args = parser.parse_args(argv)
    table = build_bler_table(args.channel, args.mcs, args.num_tbs, args.seed, args.threads)
    out = args.out or table_path(args.channel)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=1))
    print(f"wrote {out} in {table['seconds']} s")


if __name__ == "__main__":
    main()
