"""``semcom reproduce NAME``: run a registered recipe and write ``results/NAME/``.

A :class:`Recipe` lists training configs to run first (only with ``--train``: the zoo
ships their weights) and evaluation sweeps, each with a table maker. Running it
writes, under ``results/NAME/`` (or ``--out``):

* ``<evaluation>/``: each sweep's ``results.csv``, ``results.json`` and plots, and
  whatever files its table maker writes there;
* ``README.md``: the recipe's description, every table in markdown, links to the plots;
* ``manifest.json``: the command line, the equivalent ``semcom evaluate`` / ``semcom
  train`` command of every step, each step's full config, seed and time, and the
  versions (semcom, Python, torch, platform).

A table maker (:data:`Table`) is called once its sweep has run, with the sweep's result
rows (:func:`~semcom.evaluation.sweep.run_sweep`): ``table(rows)``, or, when the maker
has a parameter named ``out_dir``, ``table(rows, out_dir=FOLDER)``, ``FOLDER`` the
evaluation's output folder (``<evaluation>/``, which the sweep wrote, its
``results.json`` holding the full config). It returns markdown for the README; a maker
given the folder may write its own CSVs and plots there. The README links the PNGs
the sweep wrote, found before the maker runs, so a maker links any plot it adds in its
markdown (relative to the README: ``<evaluation>/NAME.png``). (Passing the folder by
keyword only to makers that ask for it keeps plain ``rows -> markdown`` functions,
such as :func:`markdown_pivot`, usable as they are.)

Recipes register themselves in :data:`RECIPES` (:mod:`semcom.evaluation.recipes`):
``@RECIPES.register("name")`` on a function returning a :class:`Recipe`.
"""

from __future__ import annotations

import inspect
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from semcom.errors import SemcomError
from semcom.registry import Registry

RECIPES = Registry("recipe", autoload=("semcom.evaluation.recipes",))

#: a table maker: ``rows -> markdown``, or ``(rows, out_dir=folder) -> markdown`` when it
#: has an ``out_dir`` parameter (see the module docstring and :func:`make_table`)
Table = Callable[..., str]


@dataclass
class Evaluation:
    """One sweep of a recipe.

    Attributes:
        name: sub-folder of the results and heading of its table.
        config: an evaluation config (YAML path relative to the repository, or a dict).
        table: rows -> markdown table(s); given the output folder as ``out_dir=`` too
            when it has that parameter (see :data:`Table`).
        overrides: ``key=value`` overrides always applied.
        limit_key: the override ``--limit N`` sets (``dataset.limit``).
    """

    name: str
    config: str | dict[str, Any]
    table: Table
    overrides: tuple[str, ...] = ()
    limit_key: str = "dataset.limit"


@dataclass
class Recipe:
    """A reproducible experiment: optional training, then evaluations and tables.

    Attributes:
        name: registry name (``semcom reproduce NAME``).
        description: markdown paragraph for the README.
        evaluations: the sweeps, in order.
        train: ``(training config path, zoo name it replaces)``: with ``--train`` the
            config is trained first and evaluations that name the zoo model use the new
            checkpoint instead. A staged config may instead map stage names to the zoo
            names their final weights replace (``(path, {stage: zoo name, ...})``).
    """

    name: str
    description: str
    evaluations: list[Evaluation]
    train: list[tuple[str, str | dict[str, str]]] = field(default_factory=list)


def repo_path(path: str) -> Path:
    """A path relative to the repository (``configs/...``) or the working directory."""
    here = Path(path)
    if here.exists() or here.is_absolute():
        return here
    return Path(__file__).resolve().parents[2] / path


def make_table(table: Table, rows: list[dict[str, Any]], out_dir: Path) -> str:
    """Call a table maker: ``table(rows, out_dir=out_dir)`` if it has a parameter named
    ``out_dir``, else ``table(rows)``."""
    try:
        params = inspect.signature(table).parameters
    except (TypeError, ValueError):  # a callable without a readable signature
        params = {}
    takes = "out_dir" in params and params["out_dir"].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                                inspect.Parameter.KEYWORD_ONLY)
    return table(rows, out_dir=out_dir) if takes else table(rows)


def versions() -> dict[str, Any]:
    """semcom, Python, torch and platform versions, for manifests."""
    import torch

    from semcom import __version__

    return {"semcom": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "torch_threads": torch.get_num_threads()}


def _use_trained(config: Any, trained: dict[str, str]) -> Any:
    """An evaluation config (dict) whose ``pretrained`` names that were just trained
    point at the new checkpoints instead."""
    if not trained:
        return config
    from semcom.configfile import copy_tree, read_config_file
    from semcom.evaluation.config import resolve_file_paths

    if isinstance(config, dict):
        raw = copy_tree(config)
    else:
        raw = read_config_file(repo_path(config))
        resolve_file_paths(raw, repo_path(config).parent)
    for spec in raw.get("systems") or []:
        if isinstance(spec, dict) and spec.get("pretrained") in trained:
            spec["checkpoint"] = trained[spec.pop("pretrained")]
    return raw


def _first_line(error: BaseException) -> str:
    """An exception's first message line (its type name when it has no message)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def run_recipe(name: str, out: str | Path | None = None, limit: int | None = None, train: bool = False,
               overrides: Sequence[str] = (), progress: bool = True,
               argv: Sequence[str] | None = None) -> Path:
    """Run recipe ``name`` and write its folder (see the module docstring).

    Args:
        name: a registered recipe (``semcom reproduce --list``).
        out: output folder (default ``results/NAME``).
        limit: images per evaluation (``dataset.limit``; None: each config's own).
        train: run the recipe's training configs first.
        overrides: ``key=value`` overrides applied to every evaluation (e.g. ``snr_db=[10]``).
        argv: the command line recorded in the manifest.

    Returns:
        The output folder.

    Raises:
        SemcomError: unknown recipe, a bad limit or override, or any step's error.
    """
    from semcom.evaluation.config import EvalConfig
    from semcom.evaluation.sweep import run_sweep

    recipe: Recipe = RECIPES.create(name)
    if limit is not None and (isinstance(limit, bool) or int(limit) < 1):
        raise SemcomError(f"--limit must be a positive number of images, got {limit!r}")
    root = Path(out) if out is not None else Path("results") / recipe.name

    def sets(i: int) -> list[str]:
        ev = recipe.evaluations[i]
        given = [f"{ev.limit_key}={int(limit)}"] if limit is not None else []
        return [*ev.overrides, *given, *overrides, f"out_dir={root / ev.name}"]

    def load(trained: dict[str, str]) -> list[EvalConfig]:
        return [EvalConfig.load(_use_trained(ev.config, trained) if trained else
                                repo_path(ev.config) if isinstance(ev.config, str) else ev.config, sets(i))
                for i, ev in enumerate(recipe.evaluations)]

    configs = load({})  # every config is loaded (and so validated) before the first step runs
    steps: list[dict[str, Any]] = []
    sections: list[str] = []
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    command = "semcom " + " ".join(argv if argv is not None else sys.argv[1:])

    def write_report(failed: str | None = None) -> None:
        """README and manifest of the steps done so far (written before the first sweep and
        after each, so an interrupted run keeps what it measured and never leaves an older
        run's report behind; ``complete`` says whether all ran, ``failed`` which step raised)."""
        manifest = {"recipe": recipe.name, "command": command, "limit": limit, "train": train,
                    "overrides": list(overrides), "versions": versions(), "created": created,
                    "complete": len(sections) == len(configs), "failed": failed, "steps": steps}
        root.mkdir(parents=True, exist_ok=True)
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        v = manifest["versions"]
        pending = [ev.name for ev in recipe.evaluations[len(sections):]]
        status = "" if not pending else (f"**Incomplete:** {', '.join(pending)} not run yet (or interrupted).\n\n")
        if failed:
            status += f"**Failed:** {failed}\n\n"
        (root / "README.md").write_text(
            f"# {recipe.name}\n\n{recipe.description}\n\n{status}Command: `{command}` "
            f"({created}; semcom {v['semcom']}, torch {v['torch']}, Python {v['python']}, "
            f"{v['platform']}). Every step's command, config and seed: `manifest.json`.\n\n"
            + "\n\n".join(sections) + "\n")

    write_report()
    if train:
        from semcom.training import train as run_training

        trained: dict[str, str] = {}
        for config, zoo_name in recipe.train:
            t0 = time.perf_counter()
            train_sets = [f"out_dir={root / 'train' / Path(config).stem}"]
            try:
                final = run_training(str(repo_path(config)), overrides=train_sets)
            except BaseException as e:  # recorded, then raised as it was
                write_report(failed=f"training {config}: {_first_line(e)}")
                raise
            finals = {zoo_name: str(final)} if isinstance(zoo_name, str) else \
                {zoo: str(root / "train" / Path(config).stem / stage / "final") for stage, zoo in zoo_name.items()}
            missing = [f for f in finals.values() if not Path(f + ".safetensors").is_file()]
            if missing:
                write_report(failed=f"training {config}: no final weights at {missing[0]}")
                raise SemcomError(f"training {config}: no final weights at {missing[0]} (a stage the recipe "
                                  "names is not in the config)")
            trained.update(finals)
            steps.append({"kind": "train", "config": config, "replaces": zoo_name,
                          "checkpoint": str(final) if isinstance(zoo_name, str) else finals,
                          "command": f"semcom train {config} " + " ".join(f"--set {s}" for s in train_sets),
                          "seconds": time.perf_counter() - t0})
        configs = load(trained)
        write_report()

    def evaluate(i: int, ev: Evaluation, cfg: EvalConfig) -> str:
        """Run one sweep and its table maker; its step record, and its README section."""
        t0 = time.perf_counter()
        rows = run_sweep(cfg, progress=progress, write=True)
        out_dir = Path(cfg.out_dir)
        source = ev.config if isinstance(ev.config, str) else "<recipe dict>"
        steps.append({"kind": "evaluate", "name": ev.name, "command": f"semcom evaluate {source} "
                      + " ".join(f"--set '{s}'" for s in sets(i)), "config": cfg.to_dict(), "seed": cfg.seed,
                      "images": rows[0]["images"] if rows else 0, "seconds": time.perf_counter() - t0})
        plots = sorted(p.name for p in out_dir.glob("*.png"))  # the sweep's, before the table maker adds its own
        return (f"## {ev.name}\n\n{rows[0]['images'] if rows else 0} images, seed {cfg.seed}, "
                f"`{steps[-1]['command']}`\n\n{make_table(ev.table, rows, out_dir)}\n\n"
                + "\n".join(f"![{p}]({ev.name}/{p})" for p in plots))

    for i, (ev, cfg) in enumerate(zip(recipe.evaluations, configs)):
        try:
            sections.append(evaluate(i, ev, cfg))
        except BaseException as e:  # recorded, then raised as it was
            write_report(failed=f"{ev.name}: {_first_line(e)}")
            raise
        write_report()
    return root


def markdown_pivot(rows: Sequence[dict[str, Any]], metric: str = "psnr", digits: int = 2) -> str:
    """Markdown tables of ``metric``: one per channel and measured CBR (rounded to 4
    digits), a row per system label, a column per SNR (dB); ``(n% lost)`` marks failures."""
    snrs = sorted({float(r["snr_db"]) for r in rows})
    out = []
    for channel in dict.fromkeys(r["channel"] for r in rows):
        for cbr in dict.fromkeys(round(float(r.get("cbr_requested") or r["cbr"]), 4)
                                 for r in rows if r["channel"] == channel):
            sel = [r for r in rows if r["channel"] == channel
                   and round(float(r.get("cbr_requested") or r["cbr"]), 4) == cbr]
            out.append(f"{channel}, cbr {cbr:g}: {metric} at SNR (dB)\n")
            out.append("| system | " + " | ".join(f"{s:g}" for s in snrs) + " |")
            out.append("|---|" + "---|" * len(snrs))
            for system in dict.fromkeys(r["system"] for r in sel):
                cells = []
                for s in snrs:
                    hit = [r for r in sel if r["system"] == system and float(r["snr_db"]) == s]
                    value = hit[0].get(metric) if hit else None
                    lost = float(hit[0].get("failure_rate") or 0) if hit else 0.0
                    cells.append("" if value is None else f"{value:.{digits}f}"
                                 + (f" ({100 * lost:.0f}% lost)" if lost else ""))
                out.append(f"| {system} | " + " | ".join(cells) + " |")
            out.append("")
    return "\n".join(out).rstrip()
