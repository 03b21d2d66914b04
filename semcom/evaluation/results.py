"""Sweep result files: a tidy ``results.csv``, a self-describing ``results.json``.

One row per (system, cbr, run-time settings, channel, snr). Columns (metrics a config
leaves out are absent):

==================  ==============================================================
system              display label (rows of one label and channel form one curve)
system_name         registry name of the system
source              checkpoint path or zoo name ("" for systems built by name)
channel             channel label; ``channel_name`` / ``channel_params`` build it
snr_db              average received SNR, dB
cbr_requested       the CBR the link was built for (empty for fixed-rate checkpoints)
run.NAME            value of run-time setting NAME (every setting the system declares,
                    defaults filled, ``auto`` for an automatic one)
cbr                 measured mean ``channel_uses / (3 H W)`` over images and repeats;
                    ``cbr_std``, ``cbr_min``, ``cbr_max``: its spread and range
channel_uses        measured mean complex channel uses per image; ``channel_uses_std``,
                    ``channel_uses_min``, ``channel_uses_max`` likewise
psnr, psnr_std      mean and spread (over images x repeats) of per-image PSNR, dB
ssim, ms_ssim       mean per-image SSIM / MS-SSIM; ``ms_ssim_db`` = mean per-image dB
lpips               mean per-image LPIPS (empty when unavailable: results.json notes why)
accuracy, f1        classifier top-1 accuracy and macro F1 over all images of the row
images, repeats     images in the dataset, noise realisations per image
failures            transmissions the system flagged as failed (empty if it never flags)
failure_rate        failures / (images x repeats)
runtime_s           wall seconds spent in ``link.transmit`` for the row
seconds_per_image   runtime_s / (images x repeats)
==================  ==============================================================
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch

if TYPE_CHECKING:
    from semcom.evaluation.config import EvalConfig
    from semcom.evaluation.systems import SystemUnderTest

_HEAD = ("system", "system_name", "source", "channel", "channel_name", "channel_params", "snr_db",
         "cbr_requested")
_RATE = tuple(f"{k}{s}" for k in ("cbr", "channel_uses") for s in ("", "_std", "_min", "_max"))
_TAIL = ("images", "repeats", "failures", "failure_rate", "runtime_s", "seconds_per_image")
#: column order of results.csv: then ``run.*`` after ``cbr_requested``, metric columns
#: (psnr, psnr_std, ssim, ms_ssim, ms_ssim_db, lpips, accuracy, f1, ...) after the rate
COLUMNS = _HEAD + _RATE + ("psnr", "psnr_std", "ssim", "ms_ssim", "ms_ssim_db") + _TAIL


def columns_for(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The CSV columns of ``rows``: the fixed ones, every ``run.*`` column, then every
    metric column the rows have (in order of first appearance)."""
    seen: list[str] = []
    for row in rows:
        seen += [k for k in row if k not in seen]
    runs = [k for k in seen if k.startswith("run.")]
    metrics = [k for k in seen if k not in _HEAD + _RATE + _TAIL and not k.startswith("run.")]
    return list(_HEAD) + runs + list(_RATE) + metrics + list(_TAIL)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, tensors and paths -> plain values, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _clean(value.tolist())
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` as CSV (header + one line per row); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = columns_for(rows)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in cols])
    tmp.replace(path)
    return path


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """Where a sweep ran: platform, Python/torch versions, torch threads, device."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def write_json(path: str | Path, config: "EvalConfig", rows: Sequence[dict[str, Any]],
               systems: Sequence["SystemUnderTest"] = (), started: float | None = None,
               channels: dict[str, Any] | None = None, metrics: Sequence[dict[str, Any]] = (),
               extra: dict[str, Any] | None = None) -> Path:
    """Write ``{"semcom_version", "config", "seed", "created", "finished", "machine",
    "systems", "channels", "metrics", "notes", "rows"}`` (plus ``extra``); returns the path.

    ``systems`` and ``channels`` (label -> channel) add each one's full description
    (every constructor setting, defaults included) beside the config that named it.
    """
    from semcom import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    doc = {
        "semcom_version": __version__,
        "config": config.to_dict(),
        "seed": config.seed,
        "created": _iso(started if started is not None else now),
        "finished": _iso(now),
        "machine": machine_info(config.device),
        "systems": [{"label": s.label, "cbr_requested": s.cbr_requested, "source": s.source,
                     "description": s.link.describe(),
                     "settings": [x.describe() for x in s.settings]} for s in systems],
        "channels": {label: ch.describe() for label, ch in (channels or {}).items()},
        "metrics": list(metrics),
        "notes": [m["note"] for m in metrics if m.get("note")],
        **(extra or {}),
        "rows": list(rows),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(doc), indent=2))
    tmp.replace(path)
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    """Load a ``results.json`` written by :func:`write_json`."""
    return json.loads(Path(path).read_text())


def write_results(config: "EvalConfig", rows: Sequence[dict[str, Any]],
                  systems: Sequence["SystemUnderTest"] = (), started: float | None = None,
                  channels: dict[str, Any] | None = None, metrics: Sequence[dict[str, Any]] = ()) -> Path:
    """Write results.csv, results.json, psnr_vs_snr.png, psnr_vs_cbr.png, a
    ``psnr_vs_<setting>.png`` per swept run-time setting, the config's extra ``plots``,
    and ``envelope.csv`` / ``bd.csv`` when configured, to ``config.out_dir``; returns it.
    With both, ``bd.csv`` compares the envelope's curves (the best value of the enveloped
    setting at each point, see :func:`semcom.evaluation.tables.bd_table`)."""
    from semcom.evaluation.plots import plot_metric_vs, plot_psnr_vs_cbr, plot_psnr_vs_snr
    from semcom.evaluation.tables import bd_rows, bd_table, envelope, plot_requests

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "results.csv", rows)
    extra: dict[str, Any] = {}
    curve_rows, over = rows, None
    if config.envelope is not None:
        over = config.envelope["over"]
        env = envelope(rows, over, config.envelope["metric"], config.envelope.get("max_overshoot"))
        write_csv(out / "envelope.csv", env)
        extra["envelope"] = {**config.envelope, "rows": len(env)}
        curve_rows = bd_rows(rows, env, over)  # BD of the best-setting envelope, not of each setting
    if config.bd is not None:
        table = bd_table(curve_rows, config.bd["anchor"], config.bd["metric"], over=over)
        write_table(out / "bd.csv", table)
        extra["bd"] = table
    write_json(out / "results.json", config, rows, systems, started, channels, metrics, extra)
    title = _title(config, rows)
    plot_psnr_vs_snr(rows, out / "psnr_vs_snr.png", title=title)
    plot_psnr_vs_cbr(rows, out / "psnr_vs_cbr.png", title=title)
    for x, y, name in plot_requests(config, systems):
        plot_metric_vs(rows, x, y, out / name, title=title)
    return out


def write_table(path: str | Path, table: Sequence[dict[str, Any]]) -> Path:
    """Write rows of one shape (the keys of the first) as CSV; returns the path."""
    path = Path(path)
    cols = list(table[0]) if table else []
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(cols)
        for row in table:
            writer.writerow([_csv_cell(row.get(c)) for c in cols])
    return path


def _title(config: "EvalConfig", rows: Sequence[dict[str, Any]]) -> str:
    images = rows[0]["images"] if rows else 0
    dataset = config.dataset.name if config.dataset is not None else "in-memory"
    return f"{config.name}: {dataset}, {images} images, {config.repeats} noise draw(s) each"
