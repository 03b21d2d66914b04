"""Steps that fit a time budget, from the steps/s a calibration run logged.

Usage: python steps_for_budget.py METRICS_JSONL SECONDS [--skip STEPS] [--share F] [--base N]

Averages ``steps_per_s`` over the train records after step ``--skip`` (default: over the
later half of the records, by when all runs started side by side are running), and prints ``base + share * rate * SECONDS`` rounded down to a multiple of 100 (at least
100 more than ``base``); the rate goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--skip", type=int, default=None, help="ignore records up to this step")
    parser.add_argument("--share", type=float, default=0.88, help="margin for validation and checkpoints")
    parser.add_argument("--base", type=int, default=0, help="step the run starts from")
    args = parser.parse_args()
    try:
        with open(args.metrics) as f:
            lines = f.read().splitlines()
    except OSError as err:
        sys.exit(f"cannot read {args.metrics}: {err}")
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a run stopped mid-write leaves a cut last line
    train = [r for r in rows if r.get("kind") == "train"]
    if args.skip is None:
        rates = [r["steps_per_s"] for r in train[len(train) // 2:]]
    else:
        rates = [r["steps_per_s"] for r in train if r["step"] > args.skip]
    if not rates:
        sys.exit(f"{args.metrics}: no train records to average")
    rate = sum(rates) / len(rates)
    print(f"{rate:.1f} steps/s", file=sys.stderr)
    print(args.base + max(100, int(rate * args.seconds * args.share) // 100 * 100))


if __name__ == "__main__":
    main()
