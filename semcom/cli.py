"""The ``semcom`` command line: ``semcom channels|models|transmit|compress|decompress|train|evaluate|bench|reproduce|semantics``.

Every user error (a :class:`~semcom.errors.SemcomError`) is printed as one line,
``error: ...``, with exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

# Busy-waiting OpenMP threads make small convolutions many times slower whenever another
# process shares the cores; passive waiting costs nothing when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from semcom import __version__  # noqa: E402
from semcom.errors import SemcomError  # noqa: E402


def _parse_value(text: str) -> Any:
    """A ``key=value`` value: JSON/YAML scalars and lists (``4``, ``0.5``, ``[1,2]``, ``true``)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SemcomError(f"parameter {item!r} must look like name=value")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = _parse_value(value)
    return out


def _snr(text: str) -> float:
    """Parse ``--snr``; a bad value is a one-line :class:`SemcomError` (not argparse usage)."""
    from semcom.conventions import check_snr_db

    try:
        value = float(text)
    except ValueError:
        raise SemcomError(f"SNR must be a number in dB, got {text!r}") from None
    return float(check_snr_db(value))


# --------------------------------------------------------------------- commands
def cmd_channels(args: argparse.Namespace) -> int:
    from semcom.channels import list_channels

    for name, entry in list_channels().items():
        params = ", ".join(f"{k}={v!r}" for k, v in entry["params"].items())
        print(f"{name:16s} {entry['description']}")
        if params:
            print(f"{'':16s}   params: {params}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from semcom.models import list_models
    from semcom.registry import SYSTEMS
    from semcom.zoo import KINDS, list_pretrained

    print("systems (create by name with `--system NAME`; run-time settings with `--run NAME=VALUE`):")
    for name in list_models() if args.all else SYSTEMS.names():
        print(f"  {name:14s} {SYSTEMS.help(name)}")
        for setting in getattr(SYSTEMS.get(name), "settings", ()) or ():
            print(f"  {'':14s}   --run {setting.describe()}")
    from semcom.registry import CODEC_MODELS, CODECS

    print("\ncodecs of the digital link (`--system digital --codec NAME`; files: `semcom compress`):")
    print("  " + ", ".join(CODECS.names()))
    print("learned codec models (trained by `semcom train`, shipped as kind learned_codec):")
    for name in CODEC_MODELS.names():
        print(f"  {name:14s} {CODEC_MODELS.help(name)}")
    zoo = list_pretrained()
    titles = {"system": "pretrained systems", "learned_codec": "learned codecs", "task_model": "task models"}
    if not zoo:
        print("\npretrained (semcom/zoo/weights):\n  none shipped")
    for kind in KINDS:
        entries = {k: v for k, v in zoo.items() if v.get("kind", "system") == kind}
        if not entries:
            continue
        print(f"\n{titles[kind]} (kind {kind}; semcom/zoo/weights, $SEMCOM_ZOO):")
        for name, entry in entries.items():
            info = entry["info"]
            cbr = entry["config"].get("cbr")
            bits = [entry["system"],
                    f"data {info.get('dataset', '?')}",
                    f"cbr {_fmt_cbr(cbr)}" if cbr else None,
                    f"train SNR {info.get('train_snr_db', '?')} dB" if kind != "task_model" else None,
                    f"channel {info.get('channel', 'awgn')}" if kind != "task_model" else None,
                    f"PSNR {info['psnr_db']:.2f} dB ({info.get('psnr_on', 'test')})" if "psnr_db" in info else None,
                    f"top-1 accuracy {100 * info['accuracy']:.2f} % ({info.get('accuracy_on', 'test')})"
                    if "accuracy" in info else None]
            print(f"  {name:28s} " + ", ".join(b for b in bits if b))
    return 0


def _fmt_cbr(cbr: float | None) -> str:
    if not cbr:
        return "?"
    inv = 1.0 / float(cbr)
    return f"1/{inv:.0f}" if abs(inv - round(inv)) < 1e-6 else f"{float(cbr):.4g}"


def cmd_transmit(args: argparse.Namespace) -> int:
    import torch

    from semcom.channels import create_channel
    from semcom.data.io import load_image, save_image
    from semcom.evaluation.systems import build_link
    from semcom.metrics.quality import quality_metrics, quality_notes
    from semcom.evaluation.bench import single_run_options
    from semcom.zoo import default_pretrained, has_pretrained

    torch.set_num_threads(args.threads)
    snr_db = _snr(args.snr)
    spec: dict[str, Any] = dict(_parse_params(args.system_param))
    if args.checkpoint:
        spec["checkpoint"] = args.checkpoint
    elif args.system is None:
        default = default_pretrained(args.channel, dict(_parse_params(args.param)))
        if has_pretrained(default):
            spec["pretrained"] = default
        else:
            print(f"note: pretrained model {default} not found; using the uncoded link")
            spec["system"] = "uncoded"
    elif has_pretrained(args.system):
        spec["pretrained"] = args.system
    else:
        spec["system"] = args.system
    if args.cbr is not None:
        spec["cbr"] = args.cbr
    for key in ("codec", "quality"):
        if getattr(args, key, None) is not None:
            spec[key] = getattr(args, key)
    link = build_link(spec)
    channel = create_channel(args.channel, **_parse_params(args.param))
    image = load_image(args.image)[None]
    gen = torch.Generator().manual_seed(args.seed)
    given = single_run_options(args.run, "semcom transmit")
    if args.mcs is not None:  # --mcs N is --run mcs=N
        if "mcs" in given and str(given["mcs"]) != str(args.mcs):
            raise SemcomError(f"--mcs {args.mcs} and --run mcs={given['mcs']} disagree; give one")
        given["mcs"] = str(args.mcs)
    t0 = time.perf_counter()
    result = link.transmit(image, channel, snr_db, generator=gen, **given)
    elapsed = time.perf_counter() - t0
    m = quality_metrics(image, result.images)
    _, _, h, w = image.shape
    source = spec.get("pretrained") or spec.get("checkpoint")
    print(f"system      {getattr(link, 'name', spec.get('system'))}{f' ({source})' if source else ''} "
          f"{json.dumps(_short(link.describe()))}")
    print(f"channel     {json.dumps(channel.describe())}  SNR {snr_db:g} dB")
    print(f"image       {args.image} ({w}x{h})")
    print(f"PSNR        {m['psnr'][0].item():.2f} dB")
    notes = quality_notes(h, w)
    if "ssim" in notes:
        print(f"SSIM        n/a ({notes['ssim']})")
    else:
        print(f"SSIM        {m['ssim'][0].item():.4f}")
    if "ms_ssim" in notes:
        print(f"MS-SSIM     n/a ({notes['ms_ssim']})")
    else:
        print(f"MS-SSIM     {m['ms_ssim'][0].item():.4f} ({m['ms_ssim_db'][0].item():.2f} dB)")
    print(f"CBR         {result.cbr[0].item():.5f} ({int(result.channel_uses[0])} channel uses)")
    run = result.extras.get("settings", {})
    if run:
        print("settings    " + ", ".join(f"{k}={'as configured' if v is None else v}" for k, v in run.items()))
    for key, value in result.extras.items():
        if key == "settings":
            continue
        shown = _scalar(value)
        if shown is not None:
            print(f"{key:11s} {shown}")
    print(f"time        {elapsed:.2f} s")
    if args.output:
        save_image(result.images[0], args.output)
        print(f"wrote       {args.output}")
    return 0


def _short(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "system" and isinstance(v, (int, float, str, bool))}


def _scalar(value: Any) -> str | None:
    """A short printable form of a per-image extra (first image), or None to skip."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            if value.numel() == 0 or value.numel() > 1 and value.dim() > 1:
                return None
            value = value.reshape(-1)[0].item()
    except Exception:
        return None
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else list(value)[:8]
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (int, str, bool, list)):
        return str(value)
    return None


def cmd_compress(args: argparse.Namespace) -> int:
    import torch

    from semcom.codecs.files import QUAD_LIC_SUFFIX, compress_image
    from semcom.data.io import load_image

    from semcom.registry import CODECS

    torch.set_num_threads(args.threads)
    image = load_image(args.image)
    learned = args.codec not in CODECS or args.codec == "quad_lic"  # a learned codec's file
    output = args.output or str(Path(args.image).with_suffix(QUAD_LIC_SUFFIX if learned else f".{args.codec}"))
    _refuse_overwriting(args.image, output)
    done = compress_image(image, output, args.codec, quality=args.quality, bpp=args.bpp)
    knob = "" if done.quality is None else f", quality {done.quality:g}"
    print(f"wrote {done.path}: {done.num_bytes:,} bytes, {done.bpp:.4f} bpp ({done.codec}{knob})")
    return 0


def _refuse_overwriting(source: str, output: str) -> None:
    """One clear error instead of writing over the file being read."""
    if Path(output).resolve() == Path(source).resolve():
        raise SemcomError(f"the output {output} is the input file: give another one with -o")


def cmd_decompress(args: argparse.Namespace) -> int:
    import torch

    from semcom.codecs.files import decompress_file
    from semcom.data.io import save_image

    torch.set_num_threads(args.threads)
    image, decoder = decompress_file(args.file, model=args.model)
    output = args.output or str(Path(args.file).with_suffix(".png"))
    _refuse_overwriting(args.file, output)
    save_image(image, output)
    print(f"wrote {output}: {image.shape[-1]}x{image.shape[-2]} (decoded with {decoder})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from semcom.training import train

    path = train(args.config, overrides=args.set or [])
    print(f"final checkpoint: {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from semcom.evaluation import evaluate

    path = evaluate(args.config, overrides=args.set or [])
    print(f"results: {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from semcom.evaluation.reproduce import RECIPES, run_recipe

    if args.list or not args.name:
        for name in RECIPES.names():
            print(f"{name:14s} {RECIPES.help(name)}")
        return 0
    argv = ["reproduce", args.name] + ([f"--limit {args.limit}"] if args.limit else []) + \
        (["--train"] if args.train else []) + [f"--set {s}" for s in args.set or []]
    out = run_recipe(args.name, out=args.out, limit=args.limit, train=args.train, overrides=args.set or [],
                     argv=argv)
    print(f"results: {out} (README.md, manifest.json)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from semcom.evaluation.bench import run_bench

    return run_bench(args.what, args.rest)


def cmd_semantics(args: argparse.Namespace) -> int:
    from semcom.semantics.cli import run_semantics

    return run_semantics(args.what, args.rest)


# ----------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semcom", description="Semantic communication of images: "
                                "deep JSCC and digital baselines over simulated wireless channels.")
    p.add_argument("--version", action="version", version=f"semcom {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("channels", help="list channel models and their parameters")
    s.set_defaults(func=cmd_channels)

    s = sub.add_parser("models", help="list systems and pretrained checkpoints")
    s.add_argument("--all", action="store_true", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("transmit", help="send one image through a system and a channel")
    s.add_argument("image", help="image file (PNG, JPEG, TIFF, ...)")
    s.add_argument("--system", help="system or pretrained name (default: the best shipped "
                   "high-resolution model, else uncoded)")
    s.add_argument("--checkpoint", help="path to a checkpoint (NAME.safetensors + NAME.json)")
    s.add_argument("--channel", default="awgn", help="channel name (see `semcom channels`)")
    s.add_argument("--param", "-p", action="append", metavar="NAME=VALUE",
                   help="channel parameter, e.g. -p K=3 -p block_length=64 (repeatable)")
    s.add_argument("--system-param", action="append", metavar="NAME=VALUE",
                   help="system parameter (repeatable)")
    s.add_argument("--snr", default="10", help="average received SNR in dB (default 10)")
    s.add_argument("--cbr", help="channel bandwidth ratio k/n, e.g. 1/16 (systems built by cbr)")
    s.add_argument("--codec", help="digital system: image codec (see `semcom models`)")
    s.add_argument("--mcs", type=int, help="digital system: fixed MCS index, the same as --run mcs=N "
                                          "(default: auto)")
    s.add_argument("--run", action="append", metavar="NAME=VALUE",
                   help="run-time setting of the system (repeatable; see `semcom models`), e.g. mcs=9")
    s.add_argument("--seed", type=int, default=0, help="seed of the channel's randomness")
    s.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    s.add_argument("-o", "--output", help="write the reconstruction here (PNG)")
    s.set_defaults(func=cmd_transmit)

    s = sub.add_parser("compress", help="code one image into a file (classical or learned codec)")
    s.add_argument("image", help="image file (PNG, JPEG, TIFF, ...)")
    s.add_argument("--codec", default="jpeg", help="codec name (jpeg, webp, avif, hevc, quad_lic, ...) or a "
                   "learned codec's zoo name or checkpoint (e.g. quad_lic_q3); default jpeg")
    s.add_argument("--quality", type=float, help="the codec's quality knob (default: 3/4 of its range)")
    s.add_argument("--bpp", type=float, help="largest size in bits per pixel (best quality within it)")
    s.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    s.add_argument("-o", "--output", help="output file (default: the image's name with the codec's suffix)")
    s.set_defaults(func=cmd_compress)

    s = sub.add_parser("decompress", help="decode a file of `semcom compress` (Quad-LIC, or any image)")
    s.add_argument("file", help="a Quad-LIC file (.qlc) or an image file")
    s.add_argument("--model", help="Quad-LIC model (zoo name or checkpoint; default: the zoo model the "
                   "file's header names)")
    s.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    s.add_argument("-o", "--output", help="output PNG (default: the file's name with .png)")
    s.set_defaults(func=cmd_decompress)

    s = sub.add_parser("train", help="train a model from a config file")
    s.add_argument("config", help="YAML config (see configs/train/)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="run an evaluation sweep from a config file")
    s.add_argument("config", help="YAML config (see configs/eval/)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("reproduce", help="run a registered recipe into results/NAME/ (`--list` names them)")
    s.add_argument("name", nargs="?", help="recipe name, e.g. baselines")
    s.add_argument("--list", action="store_true", help="list the recipes")
    s.add_argument("--limit", type=int, help="images per evaluation (default: each recipe's own)")
    s.add_argument("--train", action="store_true", help="run the recipe's training configs first "
                   "(default: use the zoo's weights)")
    s.add_argument("--out", help="output folder (default results/NAME)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a key of every evaluation config, e.g. snr_db=[10]")
    s.set_defaults(func=cmd_reproduce)

    s = sub.add_parser("bench", help="benchmarks: `semcom bench models|digital|train-step ...`")
    s.add_argument("what", nargs="?", default="models", help="models | digital | train-step")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("semantics", help="SP weights and the task classifier: "
                       "`semcom semantics sp-weights|train-classifier ...`")
    s.add_argument("what", nargs="?", help="sp-weights | train-classifier")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="options of that command (-h for help)")
    s.set_defaults(func=cmd_semantics)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except SemcomError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
