"""PSNR-vs-SNR and PSNR-vs-CBR plots of sweep rows (PNG, matplotlib's Agg canvas).

The figures are drawn without ``pyplot``, so plotting never touches a global backend
or a display. Every legend entry and axis states the CBR it shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Hashable, Sequence

#: marker per line, cycled (colours come from matplotlib's default cycle)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def _groups(rows: Sequence[dict[str, Any]], key_fields: Sequence[str]) -> dict[Hashable, list[dict[str, Any]]]:
    groups: dict[Hashable, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("psnr") is None or row.get("cbr") is None:
            continue
        groups.setdefault(tuple(row.get(k) for k in key_fields), []).append(row)
    return groups


def format_cbr(values: Sequence[float]) -> str:
    """``cbr=0.0833`` for one measured value, ``cbr=0.05-0.09`` for a spread (variable rate)."""
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-4 * max(abs(hi), 1e-12):
        return f"cbr={sum(values) / len(values):.4g}"
    return f"cbr={lo:.3g}-{hi:.3g}"


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Any, ax: Any, path: str | Path, lines: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if lines:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7 if lines > 8 else 8,
                  ncol=2 if lines > 20 else 1, frameon=False)
    else:
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def plot_psnr_vs_snr(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """One line per system x cbr x channel: mean PSNR (dB) against SNR (dB).

    Args:
        rows: sweep rows (``system``, ``source``, ``cbr_requested``, ``channel``,
            ``snr_db``, ``cbr``, ``psnr``).
        path: PNG to write.
        title: second title line (dataset, images, repeats).
    """
    fig, ax = _figure("PSNR vs SNR (each line at the cbr = k/n shown)" + (f"\n{title}" if title else ""),
                      "SNR [dB]", "PSNR [dB] (mean over images)")
    groups = _groups(rows, ("system", "source", "cbr_requested", "channel"))
    labels = []
    for (system, _source, _cbr, channel), members in groups.items():
        labels.append(f"{system}, {channel}, {format_cbr([r['cbr'] for r in members])}")
    for i, ((key, members), label) in enumerate(zip(groups.items(), labels)):
        if labels.count(label) > 1 and key[1]:
            label += f" [{Path(str(key[1])).name}]"
        members = sorted(members, key=lambda r: r["snr_db"])
        ax.plot([r["snr_db"] for r in members], [r["psnr"] for r in members],
                marker=_MARKERS[i % len(_MARKERS)], markersize=4, linewidth=1.2, label=label)
    return _save(fig, ax, path, len(groups))


def plot_psnr_vs_cbr(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """One line per system x channel x SNR: mean PSNR (dB) against measured mean CBR.

    Rows that share a system label (several CBRs, or one checkpoint per CBR) join into
    one line, sorted by measured CBR.
    """
    fig, ax = _figure("PSNR vs CBR" + (f"\n{title}" if title else ""),
                      "CBR = k / n (measured mean; k complex channel uses, n = 3HW)",
                      "PSNR [dB] (mean over images)")
    groups = _groups(rows, ("system", "channel", "snr_db"))
    for i, ((system, channel, snr_db), members) in enumerate(groups.items()):
        members = sorted(members, key=lambda r: r["cbr"])
        ax.plot([r["cbr"] for r in members], [r["psnr"] for r in members],
                marker=_MARKERS[i % len(_MARKERS)], markersize=4, linewidth=1.2,
                label=f"{system}, {channel}, SNR {snr_db:g} dB")
    return _save(fig, ax, path, len(groups))
