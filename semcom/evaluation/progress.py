"""Sweep progress: a tqdm bar on a terminal, plain lines in logs (no ``\\r``)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """Progress over a sweep's transmitted batches.

    On a terminal it is a tqdm bar; when ``stream`` is not a terminal (a log file, a
    pipe) it prints one plain line per finished point, e.g.
    ``evaluate x: point 3/12 (25%) uncoded | awgn | 10 dB: PSNR 21.30 dB, 0.4 s``.

    Args:
        total: batches in the sweep.
        points: points (rows) in the sweep.
        name: the sweep's name.
        enabled: False shows nothing.
        stream: where to write (default ``sys.stdout``).
    """

    def __init__(self, total: int, points: int, name: str, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.points, self.done, self.name = points, 0, name
        self.started = time.perf_counter()
        isatty = getattr(self.stream, "isatty", None)
        self.bar: Any = None
        if enabled and callable(isatty) and isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"evaluate {name}", unit="batch", dynamic_ncols=True,
                            file=self.stream)

    def begin(self, what: str) -> None:
        """A point starts: ``what`` names it (system, channel, SNR, settings)."""
        self.what = what
        if self.bar is not None:
            self.bar.set_postfix_str(what)

    def update(self, batches: int = 1) -> None:
        """``batches`` more batches were sent."""
        if self.bar is not None:
            self.bar.update(batches)

    def end(self, row: dict[str, Any]) -> None:
        """A point finished with result ``row``."""
        self.done += 1
        if not self.enabled or self.bar is not None:
            return
        psnr = row.get("psnr")
        shown = "n/a" if psnr is None else f"{psnr:.2f} dB"
        print(f"evaluate {self.name}: point {self.done}/{self.points} ({100 * self.done // max(self.points, 1)}%) "
              f"{self.what}: PSNR {shown}, {row.get('runtime_s', 0.0):.1f} s "
              f"(elapsed {time.perf_counter() - self.started:.0f} s)", file=self.stream, flush=True)

    def close(self) -> None:
        """Close the bar (if any)."""
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
