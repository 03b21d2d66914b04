"""``semcom reproduce sp-jscc``: the SP-JSCC paper's claims as tables and plots.

Zhang et al., "Semantics of pixels"-based JSCC (SP-JSCC): AR-JSCC trained with an MSE
weighted by a frozen classifier's input gradients (``configs/train/spjscc_cifar10.yaml``)
against AR-JSCC trained with the plain MSE (``configs/train/arjscc_cifar10.yaml``) and
HEVC intra + 802.11n LDPC 3/4 + 16-QAM, on the CIFAR-10 test images over AWGN. Two
sweeps (``configs/eval/sp_jscc_{snr,cpp}.yaml``):

* **snr**: 0-20 dB, the policy choosing the groups (so the two models' CPPs may differ
  a little; the table gives each one's measured CPP);
* **cpp**: groups forced to 0..4 (CPP 0.25..0.5, ``cpp = 3 cbr``) at 5 and 10 dB, so the
  two models are compared at equal CPP and SNR.

Spread over noise realizations: a sweep pools its ``repeats`` into one row, so the
recipe runs each config once per realization (``repeats=1``, ``seed=k`` for ``k`` in
``0 .. REALIZATIONS - 1``, folders ``PART/r<k>``); the table maker of the last
realization (:func:`summary_table`) reads all of them back and writes, in ``PART/``,
``summary.csv`` (mean, population std, min and max over realizations of accuracy, F1,
PSNR and SSIM per system, CBR, groups and SNR), ``<metric>_vs_snr.png`` or
``<metric>_vs_cpp.png`` (mean with a std error bar) and, for ``cpp``, ``claims.csv``.

Lost images: the digital link shows a lost image as a mid-gray picture
(:data:`semcom.conventions.LOST_IMAGE_VALUE`) and flags it in ``extras["failed"]``; the
sweep counts such an image as misclassified for accuracy and F1, for every system
(:mod:`semcom.metrics.registry`), so the recipe uses the classifier as it is. The
ceiling, the classifier on the original images, is computed by the table maker (there
is no identity system).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch

from semcom.evaluation.fajscc_claims import model_overrides
from semcom.evaluation.report import (
    as_number as _num,
    format_number as _fmt,
    new_figure as _figure,
    save_figure as _save,
    write_csv as _write_csv,
)
from semcom.evaluation.reproduce import Evaluation, Recipe

CONFIGS = {"snr": "configs/eval/sp_jscc_snr.yaml", "cpp": "configs/eval/sp_jscc_cpp.yaml"}
#: system index of each model in both configs
MODEL_INDEX = {"arjscc": 0, "spjscc": 1}
DIGITAL_INDEX = 2
#: noise realizations (the paper averages five runs)
REALIZATIONS = 5
CLASSIFIER = "cifar10-resnet_cifar10"
METRICS = ("accuracy", "f1", "psnr", "ssim")
LABELS = {"accuracy": "accuracy (%)", "f1": "macro F1 (%)", "psnr": "PSNR (dB)", "ssim": "SSIM"}
#: metrics reported in percent
PERCENT = ("accuracy", "f1")
#: the paper's claims
PAPER_ACC_GAIN_5DB = 1.38
PSNR_TOLERANCE_DB = 0.5


# ------------------------------------------------------------------------ reading
def _realization_rows(part_dir: Path) -> list[list[dict[str, Any]]]:
    """The rows of every ``r<k>`` folder of a part, in ``k`` order."""
    from semcom.evaluation.results import read_results

    out = []
    for folder in sorted(part_dir.glob("r*"), key=lambda p: int(p.name[1:]) if p.name[1:].isdigit() else -1):
        path = folder / "results.json"
        if folder.name[1:].isdigit() and path.is_file():
            out.append(list(read_results(path).get("rows") or []))
    return out


def _key(row: dict[str, Any]) -> tuple:
    cbr = _num(row.get("cbr_requested"))
    return (row["system"], None if cbr is None else round(cbr, 6), row.get("run.groups"), row["channel"],
            float(row["snr_db"]))


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {"mean": mean, "std": std, "min": min(values), "max": max(values)}


def summarize(realizations: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One entry per (system, cbr, groups, channel, SNR): ``realizations``, ``cbr`` and
    ``cpp`` (means of the measured values, ``cpp = 3 cbr``), ``failure_rate`` (mean), and
    ``<metric>``, ``<metric>_std``, ``<metric>_min``, ``<metric>_max`` over the
    realizations for every metric of :data:`METRICS` (accuracy and F1 in percent)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for rows in realizations:
        for row in rows:
            groups.setdefault(_key(row), []).append(row)
    out = []
    for key, rows in groups.items():
        system, cbr_req, groups_run, channel, snr = key
        cbrs = [v for v in (_num(r.get("cbr")) for r in rows) if v is not None]
        fails = [v for v in (_num(r.get("failure_rate")) for r in rows) if v is not None]
        entry: dict[str, Any] = {"system": system, "cbr_requested": cbr_req, "groups": groups_run,
                                 "channel": channel, "snr_db": snr, "realizations": len(rows),
                                 "cbr": _stats(cbrs)["mean"],
                                 "cpp": None if not cbrs else 3 * _stats(cbrs)["mean"],
                                 "failure_rate": _stats(fails)["mean"] if fails else None}
        for metric in METRICS:
            values = []
            for r in rows:
                v = _num(r.get(metric))
                if v is None:
                    continue
                values.append(100 * v if metric in PERCENT else v)
            for stat, value in _stats(values).items():
                entry[metric if stat == "mean" else f"{metric}_{stat}"] = value
        out.append(entry)
    return out


def budget_point(entry: dict[str, Any]) -> float | None:
    """The CBR a summary entry is tabled at in the ``cpp`` part: the requested budget of a
    link built for one (the digital baseline), else the measured, charged CBR (a learned
    model with forced groups: its symbols plus the side-information byte, the same for
    every image), rounded to 6 digits so equal budgets share a row."""
    cbr = entry["cbr_requested"] if entry["cbr_requested"] is not None else entry["cbr"]
    return None if cbr is None else round(float(cbr), 6)


def _curve(entry: dict[str, Any], by_cpp: bool) -> str:
    """A curve's name: the system, plus its requested CPP in the SNR part when a system
    has several CBRs (the digital link)."""
    if by_cpp or entry["cbr_requested"] is None:
        return entry["system"]
    return f"{entry['system']} cpp {3 * entry['cbr_requested']:.3g}"


# ---------------------------------------------------------------------- ceiling
def ceiling(out_dir: Path, classifier: Any) -> dict[str, Any] | None:
    """Accuracy and macro F1 (percent) of the classifier on the original images of the
    sweep that wrote ``out_dir`` (its ``results.json`` names the dataset), and the labels."""
    from semcom.evaluation.config import DatasetSpec
    from semcom.evaluation.results import read_results
    from semcom.evaluation.sweep import load_dataset
    from semcom.metrics.registry import load_classifier
    from semcom.metrics.task import macro_f1, predictions, top1_accuracy

    path = Path(out_dir) / "results.json"
    if not path.is_file():
        return None
    ds = dict((read_results(path).get("config") or {}).get("dataset") or {})
    if not ds.get("name"):
        return None
    spec = DatasetSpec(name=ds.pop("name"), root=ds.pop("root", None), limit=ds.pop("limit", None),
                       split=ds.pop("split", None), options=ds)
    images, labels = load_dataset(spec)
    if labels is None:
        return None
    model = load_classifier(classifier)
    preds = []
    with torch.no_grad():
        for start in range(0, len(images), 250):
            preds.append(predictions(model(torch.stack(images[start:start + 250]))).cpu())
    p = torch.cat(preds)
    classes = max(10, int(max(p.max(), labels.max())) + 1)
    return {"accuracy": 100 * top1_accuracy(p, labels), "f1": 100 * macro_f1(p, labels, classes),
            "images": len(images), "labels": labels}


# ------------------------------------------------------------------------ tables
def _cell(entry: dict[str, Any] | None, metric: str) -> str:
    if entry is None or entry.get(metric) is None:
        return ""
    digits = 4 if metric == "ssim" else 2
    text = f"{_fmt(entry[metric], digits)} ± {_fmt(entry[f'{metric}_std'], digits)}"
    lost = entry.get("failure_rate") or 0
    return text + (f" ({100 * lost:.0f}% lost)" if lost else "")


def _metric_tables(summary: list[dict[str, Any]], by_cpp: bool, ceil: dict[str, Any] | None) -> str:
    text = []
    for metric in METRICS:
        if all(e.get(metric) is None for e in summary):
            continue
        if by_cpp:
            snrs = sorted({e["snr_db"] for e in summary})
            for snr in snrs:
                sel = [e for e in summary if e["snr_db"] == snr]
                curves = list(dict.fromkeys(_curve(e, True) for e in sel))
                points = sorted({p for p in map(budget_point, sel) if p is not None})
                text += [f"{LABELS[metric]} at {snr:g} dB, mean ± std over realizations; rows: CPP "
                         "charged (cbr; the learned models' selective groups)\n",
                         "| CPP (cbr; groups) | " + " | ".join(curves) + " |", "|---|" + "---|" * len(curves)]
                for c in points:
                    here = [e for e in sel if budget_point(e) == c]
                    groups = ",".join(dict.fromkeys(str(e["groups"]) for e in here if e["groups"] not in (None, "auto")))
                    cells = [_cell(next((e for e in here if _curve(e, True) == name), None), metric) for name in curves]
                    text.append(f"| {3 * c:.4g} ({c:.4g}{'; ' + groups if groups else ''}) | "
                                + " | ".join(cells) + " |")
                text.append("")
        else:
            curves = list(dict.fromkeys(_curve(e, False) for e in summary))
            snrs = sorted({e["snr_db"] for e in summary})
            text += [f"{LABELS[metric]} against SNR, mean ± std over realizations\n",
                     "| SNR (dB) | " + " | ".join(curves) + " |", "|---|" + "---|" * len(curves)]
            for snr in snrs:
                cells = [_cell(next((e for e in summary if _curve(e, False) == name and e["snr_db"] == snr), None),
                               metric) for name in curves]
                text.append(f"| {snr:g} | " + " | ".join(cells) + " |")
            if metric in PERCENT and ceil is not None:
                text.append(f"\nCeiling (classifier on the {ceil['images']} original images): "
                            f"{ceil[metric]:.2f}")
            text.append("")
    if not by_cpp:
        models = [e for e in summary if e["groups"] in (None, "auto") and e["cbr_requested"] is None]
        if models:
            text += ["Measured CPP of the policy's choice (mean over images and realizations)\n",
                     "| system | " + " | ".join(f"{s:g} dB" for s in sorted({e['snr_db'] for e in models})) + " |",
                     "|---|" + "---|" * len({e["snr_db"] for e in models})]
            for system in dict.fromkeys(e["system"] for e in models):
                text.append(f"| {system} | " + " | ".join(
                    _fmt(next((e["cpp"] for e in models if e["system"] == system and e["snr_db"] == s), None), 4)
                    for s in sorted({e["snr_db"] for e in models})) + " |")
            text.append("")
    return "\n".join(text).rstrip()


def _plots(summary: list[dict[str, Any]], folder: Path, by_cpp: bool, title: str,
           ceil: dict[str, Any] | None) -> list[Path]:
    paths = []
    x_name = "cpp" if by_cpp else "snr_db"
    for metric in METRICS:
        if all(e.get(metric) is None for e in summary):
            continue
        fig, ax = _figure(f"{LABELS[metric]} vs {'CPP' if by_cpp else 'SNR'}: {title}")
        series: dict[tuple, list[dict[str, Any]]] = {}
        for e in summary:
            if e.get(metric) is None or e.get(x_name) is None:
                continue
            series.setdefault((_curve(e, by_cpp), e["snr_db"] if by_cpp else None), []).append(e)
        for i, ((name, snr), points) in enumerate(series.items()):
            points.sort(key=lambda e: e[x_name])
            ax.errorbar([e[x_name] for e in points], [e[metric] for e in points],
                        yerr=[e[f"{metric}_std"] or 0.0 for e in points], color=f"C{i % 10}", marker="o",
                        markersize=4, capsize=3, label=name if snr is None else f"{name}, {snr:g} dB")
        if metric in PERCENT and ceil is not None:
            ax.axhline(ceil[metric], color="k", linestyle=":", linewidth=0.8, label="classifier on originals")
        path = folder / f"{metric}_vs_{'cpp' if by_cpp else 'snr'}.png"
        paths.append(_save(fig, ax, path, "CPP (channel uses per pixel, 3 cbr)" if by_cpp else "SNR (dB)",
                           LABELS[metric]))
    return paths


def claims(summary: list[dict[str, Any]], realizations: Sequence[Sequence[dict[str, Any]]],
           by_cpp: bool) -> list[dict[str, Any]]:
    """SP-JSCC minus AR-JSCC at each (CPP, SNR) point both have: accuracy (points),
    F1 (points), PSNR (dB) and SSIM, as the mean of the per-realization differences
    (paired: the same noise seeds) and their std, and both models' measured CPP."""
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for rows in realizations:
        for row in rows:
            by_key.setdefault(_key(row), []).append(row)
    out = []
    for e in summary:
        if e["system"] != "SP-JSCC":
            continue
        other = next((o for o in summary if o["system"] == "AR-JSCC" and o["groups"] == e["groups"]
                      and o["snr_db"] == e["snr_db"] and o["channel"] == e["channel"]), None)
        if other is None:
            continue
        mine = by_key[("SP-JSCC", e["cbr_requested"], e["groups"], e["channel"], e["snr_db"])]
        theirs = by_key[("AR-JSCC", other["cbr_requested"], other["groups"], other["channel"], other["snr_db"])]
        entry: dict[str, Any] = {"snr_db": e["snr_db"], "groups": e["groups"], "cpp_spjscc": e["cpp"],
                                 "cpp_arjscc": other["cpp"]}
        for metric in METRICS:
            scale = 100 if metric in PERCENT else 1
            diffs = [scale * (a - b) for a, b in ((_num(x.get(metric)), _num(y.get(metric)))
                                                  for x, y in zip(mine, theirs)) if a is not None and b is not None]
            stats = _stats(diffs)
            entry[f"d_{metric}"], entry[f"d_{metric}_std"] = stats["mean"], stats["std"]
        out.append(entry)
    return out


def _claims_text(table: list[dict[str, Any]], summary: list[dict[str, Any]], by_cpp: bool) -> str:
    if not table:
        return ""
    where = "equal CPP (forced groups) and SNR" if by_cpp else "equal SNR (each policy's own CPP)"
    lines = [f"SP-JSCC minus AR-JSCC at {where}; mean ± std of the paired per-realization differences\n",
             "| SNR (dB) | CPP SP / AR | Δ accuracy (points) | Δ F1 (points) | Δ PSNR (dB) | Δ SSIM |",
             "|---|---|---|---|---|---|"]
    for c in table:
        lines.append(f"| {c['snr_db']:g} | {_fmt(c['cpp_spjscc'], 4)} / {_fmt(c['cpp_arjscc'], 4)} | "
                     f"{_fmt(c['d_accuracy'])} ± {_fmt(c['d_accuracy_std'])} | {_fmt(c['d_f1'])} ± "
                     f"{_fmt(c['d_f1_std'])} | {_fmt(c['d_psnr'])} ± {_fmt(c['d_psnr_std'])} | "
                     f"{_fmt(c['d_ssim'], 4)} ± {_fmt(c['d_ssim_std'], 4)} |")
    lines += ["", "Claims (measured):"]
    at5 = [c for c in table if c["snr_db"] == 5.0 and c["d_accuracy"] is not None]
    if at5:
        gains = ", ".join(f"{c['d_accuracy']:+.2f}" + ("" if c["groups"] in (None, "auto") else
                                                       f" (cpp {_fmt(c['cpp_spjscc'], 3)})") for c in at5)
        lines.append(f"- *accuracy above AR-JSCC, +{PAPER_ACC_GAIN_5DB} points at 5 dB in the paper*: "
                     f"measured at 5 dB {gains} points")
    above = [c for c in table if c["d_accuracy"] is not None]
    if above:
        lines.append(f"- SP-JSCC more accurate at {sum(c['d_accuracy'] > 0 for c in above)} of {len(above)} points")
    psnr = [c for c in table if c["d_psnr"] is not None]
    if psnr:
        worst = max(psnr, key=lambda c: abs(c["d_psnr"]))
        inside = sum(abs(c["d_psnr"]) <= PSNR_TOLERANCE_DB for c in psnr)
        lines.append(f"- *PSNR about equal*: |Δ PSNR| <= {PSNR_TOLERANCE_DB} dB at {inside} of {len(psnr)} points "
                     f"(largest {worst['d_psnr']:+.2f} dB at {worst['snr_db']:g} dB)")
    digital = [e for e in summary if e["system"] not in ("SP-JSCC", "AR-JSCC") and e.get("failure_rate") is not None]
    if digital:
        failing = [e for e in digital if e["failure_rate"] >= 0.5]
        text = "; ".join(f"{e['snr_db']:g} dB cpp {3 * (e['cbr_requested'] or 0):.3g}: {100 * e['failure_rate']:.0f}% "
                         f"lost, accuracy {_fmt(e['accuracy'])}" for e in failing) or "none"
        lines.append(f"- *the digital baseline fails at low SNR and CPP* (lost images count as misclassified): "
                     f"points with at least half the images lost: {text}")
    return "\n".join(lines)


def summary_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None, part: str = "snr",
                  classifier: Any = CLASSIFIER, realizations: int = REALIZATIONS) -> str:
    """The table maker of a part's last realization: reads every ``r<k>`` sibling of
    ``out_dir``, writes the part's summary, plots and claims in ``out_dir.parent`` and
    returns their markdown (see the module docstring). Without ``out_dir``, only the
    markdown of ``rows`` as one realization."""
    by_cpp = part == "cpp"
    if out_dir is None:
        return _metric_tables(summarize([list(rows)]), by_cpp, None)
    folder = Path(out_dir).parent
    found = _realization_rows(folder)
    ceil = ceiling(Path(out_dir), classifier)
    summary = summarize(found)
    title = f"CIFAR-10 ({rows[0].get('images') if rows else 0} images), AWGN, {len(found)} realizations"
    _write_csv(folder / "summary.csv", summary)
    text = [f"{len(found)} realizations (of {realizations}) in `{folder.name}/r*/`; summary: "
            f"`{folder.name}/summary.csv`.\n", _metric_tables(summary, by_cpp, ceil)]
    table = claims(summary, found, by_cpp)
    if table:
        _write_csv(folder / "claims.csv", table)
        text.append("\n" + _claims_text(table, summary, by_cpp))
    for path in _plots(summary, folder, by_cpp, title, ceil):
        text.append(f"\n![{path.name}]({folder.name}/{path.name})")
    return "\n".join(text)


def _realization_note(rows: Sequence[dict[str, Any]], k: int, part: str, last: int) -> str:
    return f"Realization {k} (seed {k}, one noise draw per image); the summary is under `{part}/r{last}`."


# ------------------------------------------------------------------------- recipe
DESCRIPTION = """\
The claims of SP-JSCC (semantics-of-pixels JSCC: AR-JSCC trained with an MSE weighted by \
a frozen classifier's input gradients) against AR-JSCC (the same model trained with MSE) \
and BPG (HEVC intra) + 802.11n LDPC (1944, 1458) rate 3/4 + 16-QAM, on the CIFAR-10 test \
images (1,000 lossless; `--limit N`: the first N) over AWGN. Models: `arjscc_cifar10` and \
`spjscc_cifar10` (`configs/train/{arjscc,spjscc}_cifar10.yaml`); classifier \
`cifar10-resnet_cifar10` (accuracy and macro F1 on the reconstructions). CPP = 3 cbr \
(complex symbols per pixel, the paper's definition) of the channel uses charged: the \
side-information byte of AR-JSCC (32 channel uses, cbr 1/96) is charged, so its CPP lies \
1/32 above the groups' share (4 + g) / 16, and in the **cpp** part the digital baseline \
gets the same charged budgets, (8 + 2 g + 1) / 96.

* **snr** (`configs/eval/sp_jscc_snr.yaml`): 0, 5, 10, 15, 20 dB, the policy choosing the \
groups; the digital baseline at the charged budgets of 0, 2 and 4 extra groups (cpp 0.25, \
0.375, 0.5 plus the side information's 1/32); the classifier on the originals as the \
ceiling.
* **cpp** (`configs/eval/sp_jscc_cpp.yaml`): groups forced to 0..4 (cpp 0.25..0.5) at 5 \
and 10 dB; the digital baseline at the same charged CBRs; the claims table (SP-JSCC minus \
AR-JSCC at equal CPP and SNR; the paper: +1.38 accuracy points at 5 dB, PSNR and SSIM \
about equal, the digital link failing at low SNR and CPP).

Each config runs once per noise realization (5, seeds 0-4, `PART/r<k>/`); tables give \
the mean ± std over realizations (`PART/summary.csv` also min and max). A lost digital \
image (mid-gray) counts as misclassified. Other models: `--set \
systems.0.pretrained=null --set systems.0.checkpoint=PATH` (AR-JSCC; systems.1 \
SP-JSCC, systems.2 the digital link) in both configs."""


def _config(part: str, digital: bool, classifier: Any) -> dict[str, Any]:
    from semcom.configfile import read_config_file
    from semcom.evaluation.config import resolve_file_paths
    from semcom.evaluation.reproduce import repo_path

    path = repo_path(CONFIGS[part])
    raw = read_config_file(path)
    resolve_file_paths(raw, path.parent)
    if not digital:
        raw["systems"] = [s for s in raw["systems"] if not (isinstance(s, dict) and s.get("system") == "digital")]
    raw["metrics"] = [{**m, "classifier": classifier} if isinstance(m, dict) and m.get("name") in ("accuracy", "f1")
                      else m for m in raw["metrics"]]
    raw["plots"] = None  # the summary's plots replace the per-realization extras
    return raw


def sp_jscc_recipe(arjscc: str | Path | None = None, spjscc: str | Path | None = None,
                   classifier: Any = CLASSIFIER, digital: bool = True, realizations: int = REALIZATIONS,
                   name: str = "sp-jscc") -> Recipe:
    """The ``sp-jscc`` recipe (module docstring), optionally with other models.

    Args:
        arjscc, spjscc: a zoo name or checkpoint path replacing the zoo model in both sweeps.
        classifier: the task model (zoo name, checkpoint path or module) of accuracy and F1.
        digital: keep the digital baseline.
        realizations: noise realizations (one sweep each).
        name: the recipe's name (its default folder ``results/sp_jscc``).
    """
    overrides: list[str] = []
    for model, value in (("arjscc", arjscc), ("spjscc", spjscc)):
        if value is not None:
            overrides += model_overrides(MODEL_INDEX[model], value)
    evaluations = []
    for part in CONFIGS:
        config = _config(part, digital, classifier)
        for k in range(int(realizations)):
            last = k == int(realizations) - 1
            table = (lambda rows, out_dir=None, part=part: summary_table(rows, out_dir, part, classifier,
                                                                         int(realizations))) if last else \
                (lambda rows, k=k, part=part: _realization_note(rows, k, part, int(realizations) - 1))
            evaluations.append(Evaluation(f"{part}/r{k}", config, table,
                                          (*overrides, "repeats=1", f"seed={k}")))
    return Recipe(name=name.replace("-", "_"), description=DESCRIPTION, evaluations=evaluations)
