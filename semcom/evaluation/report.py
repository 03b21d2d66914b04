"""Small helpers every claim module of ``semcom reproduce`` shares: numbers from result
rows, one figure style, CSV tables, README plot links."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def as_number(value: Any) -> float | None:
    """A finite float from a result cell, or None (empty, missing, NaN, not a number)."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def format_number(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or an empty cell for None."""
    return "" if value is None else f"{value:.{digits}f}"


def sweep_systems(out_dir: Path | None) -> list[dict[str, Any]]:
    """The system specs of the sweep that wrote ``out_dir`` (from its ``results.json``;
    ``[]`` without one)."""
    from semcom.evaluation.results import read_results

    path = None if out_dir is None else Path(out_dir) / "results.json"
    if path is None or not path.is_file():
        return []
    return list((read_results(path).get("config") or {}).get("systems") or [])


def new_figure(title: str) -> tuple[Any, Any]:
    """A ``(figure, axes)`` pair in the recipes' style (Agg, no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    ax.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return fig, ax


def save_figure(fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str) -> Path:
    """Label the axes, put the legend outside, write the PNG ``path``; returns it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7, frameon=False)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def plot_link(path: Path, existed: bool) -> str:
    """The README link of a plot a table maker wrote (``FOLDER/NAME.png``, relative to the
    recipe's README); empty when the file was there before, as the recipe links the
    sweep folder's PNGs it finds before the tables are made."""
    return "" if existed else f"\n\n![{path.name}]({path.parent.name}/{path.name})"


def write_csv(path: Path, table: list[dict[str, Any]]) -> None:
    """Write rows as a CSV table (parent folders created)."""
    from semcom.evaluation.results import write_table

    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(path, table)


def is_path(value: str) -> bool:
    """Whether a model argument names a checkpoint path rather than a zoo name."""
    text = str(value)
    return "/" in text or "\\" in text or text.endswith((".json", ".safetensors")) or \
        Path(text).with_suffix(".json").exists() or Path(text + ".json").exists()


__all__ = ["as_number", "format_number", "is_path", "new_figure", "plot_link", "save_figure", "sweep_systems",
           "write_csv"]
