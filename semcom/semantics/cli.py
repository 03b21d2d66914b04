"""``semcom semantics``: SP weights of an image, and training the task classifier.

* ``semcom semantics sp-weights IMAGE -o weights.png --classifier ZOO_NAME_OR_PATH``:
  writes the image's SP-weight map (:func:`semcom.semantics.sp_weights.sp_weight_map`,
  a grayscale PNG of the image's size, bright where the classifier looks) and prints the
  predicted class;
* ``semcom semantics train-classifier --epochs N --out runs/classifier``: trains the
  ``cifar10-resnet`` classifier (:mod:`semcom.semantics.train_classifier`); its
  ``OUT/final`` is a ``task_model`` checkpoint.

Every user error (missing image, missing or corrupt checkpoint, a missing option) is one
``error: ...`` line with exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn, Sequence

from semcom.errors import CheckpointError, SemcomError

#: the zoo name ``sp-weights`` uses when ``--classifier`` is not given (when it is shipped)
DEFAULT_CLASSIFIER = "cifar10-resnet_cifar10"
TRAIN_HINT = "train one with `semcom semantics train-classifier --epochs 10 --out runs/classifier`"
COMMANDS = ("sp-weights", "train-classifier")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one :class:`SemcomError` line."""

    def error(self, message: str) -> NoReturn:
        raise SemcomError(f"{self.prog}: {message}")


# ----------------------------------------------------------------------------- classifier
def resolve_classifier(source: str | None) -> Path:
    """The checkpoint base path of ``--classifier`` (a zoo name or a path), checked to hold
    a task model; without one, the shipped default if any.

    Raises:
        SemcomError: none given and none shipped, no such zoo name or checkpoint, a
            checkpoint of another kind.
    """
    from semcom.zoo.checkpoint import checkpoint_files, read_checkpoint_meta
    from semcom.zoo.pretrained import checkpoint_kind, has_pretrained, list_pretrained, pretrained_path

    if source is None or not str(source).strip():
        if has_pretrained(DEFAULT_CLASSIFIER):
            source = DEFAULT_CLASSIFIER
        else:
            raise SemcomError("sp-weights needs --classifier ZOO_NAME_OR_PATH (no classifier is shipped yet; "
                              f"{TRAIN_HINT}, then pass --classifier runs/classifier/final)")
    text = str(source).strip()
    if has_pretrained(text):
        path = pretrained_path(text)
    else:
        path = Path(text).expanduser()
        weights, config = checkpoint_files(path)
        if not weights.is_file() and not config.is_file():
            shipped = ", ".join(sorted(list_pretrained("task_model"))) or "none shipped"
            raise SemcomError(f"--classifier {text!r}: no such checkpoint ({config} not found) and no zoo "
                              f"model of that name (zoo classifiers: {shipped})")
    kind = checkpoint_kind(read_checkpoint_meta(path))
    if kind != "task_model":
        raise SemcomError(f"--classifier {text!r} holds a {kind}, not a classifier (checkpoint kind 'task_model')")
    return path


def load_task_model(source: str | None) -> tuple[Any, dict[str, Any], Path]:
    """``(classifier module in eval mode, checkpoint meta, path)`` of ``--classifier``."""
    import semcom.semantics  # noqa: F401  (registers cifar10-resnet)
    from semcom.zoo.checkpoint import read_checkpoint_meta
    from semcom.zoo.pretrained import load_built

    path = resolve_classifier(source)
    meta = read_checkpoint_meta(path)
    model = load_built(path, kind="task_model")
    if not callable(model):
        raise CheckpointError(f"checkpoint {path} built a {type(model).__name__}, which cannot classify")
    return model, meta, path


def class_names(meta: dict[str, Any], num_classes: int) -> list[str] | None:
    """Class names of a classifier checkpoint: ``info["class_names"]``, else CIFAR-10's
    for a 10-class classifier, else None."""
    from semcom.data.labelled import CIFAR10_CLASSES

    names = (meta.get("info") or {}).get("class_names")
    if isinstance(names, list) and len(names) == num_classes:
        return [str(n) for n in names]
    return list(CIFAR10_CLASSES) if num_classes == len(CIFAR10_CLASSES) else None


def save_gray_png(image: Any, path: str | Path) -> Path:
    """Write a ``(H, W)`` / ``(1, H, W)`` / ``(1, 1, H, W)`` float map in ``[0, 1]`` as an
    8-bit grayscale PNG (parent folders created)."""
    import numpy as np
    import torch
    from PIL import Image

    values = image.detach().float().cpu().reshape(image.shape[-2], image.shape[-1]).clamp(0, 1)
    pixels = (values * 255.0).round().to(torch.uint8).numpy()
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels), mode="L").save(path, format="PNG")
    except OSError as e:
        raise SemcomError(f"cannot write {path}: {e.strerror or e}") from None
    return path


# ----------------------------------------------------------------------------- commands
def sp_weights_command(argv: Sequence[str]) -> int:
    """``semcom semantics sp-weights IMAGE -o OUT.png [--classifier ...]``."""
    import torch

    from semcom.data.io import load_image
    from semcom.semantics.sp_weights import TARGETS, input_gradient, normalize_weights, sp_weight_map

    p = _Parser(prog="semcom semantics sp-weights",
                description="Write an image's SP-JSCC weight map (grayscale PNG, bright = important to "
                            "the classifier) and print the predicted class.")
    p.add_argument("image", help="image file (PNG, JPEG, ...); the classifier was trained on 32x32 images")
    p.add_argument("-o", "--output", help="the weight map to write (PNG, same size as the image)")
    p.add_argument("--classifier", help="zoo name or checkpoint path of a task model (kind task_model), "
                                        "e.g. runs/classifier/final")
    p.add_argument("--target", default="mean", choices=[t for t in TARGETS if t != "label"],
                   help="gradient of the mean logit (default, the paper; one backward pass) or "
                        "class_magnitude: the mean magnitude of the per-class gradients (one pass per class)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = p.parse_args(list(argv))
    if not args.output:
        raise SemcomError("sp-weights needs -o OUTPUT.png (where to write the weight map)")
    torch.set_num_threads(max(1, args.threads))
    image = load_image(args.image)[None]  # one clear line for a missing or corrupt file
    model, meta, path = load_task_model(args.classifier)
    try:
        grad, logits = input_gradient(model, image, target=args.target)
    except RuntimeError as e:
        raise SemcomError(f"the classifier cannot process {args.image}: {str(e).splitlines()[0]}") from None
    weights = normalize_weights(grad)
    probs = torch.softmax(logits.float(), dim=1)[0]
    top = int(probs.argmax())
    names = class_names(meta, int(probs.numel()))
    _, _, h, w = image.shape
    print(f"classifier  {path} ({meta.get('system')})")
    print(f"image       {args.image} ({w}x{h})")
    if meta.get("system") == "cifar10-resnet" and (h, w) != (32, 32):
        print("note        the classifier was trained on 32x32 images; its prediction on this size is unreliable")
    label = names[top] if names else f"class {top}"
    print(f"predicted   {label} (class {top}, p = {float(probs[top]):.3f})")
    out = save_gray_png(sp_weight_map(weights)[0], args.output)
    print(f"wrote       {out} ({w}x{h} grayscale SP-weight map; weights mean 1, max "
          f"{float(weights.max()):.2f})")
    return 0


def _widths(text: str) -> list[int]:
    try:
        widths = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise SemcomError(f"--widths must be 4 comma-separated ints, got {text!r}") from None
    if len(widths) != 4:
        raise SemcomError(f"--widths must be 4 comma-separated ints, got {text!r}")
    return widths


def train_classifier_command(argv: Sequence[str]) -> int:
    """``semcom semantics train-classifier --epochs N --out DIR [options]``."""
    from semcom.semantics.train_classifier import ClassifierTrainConfig, train_classifier

    d = ClassifierTrainConfig()
    p = _Parser(prog="semcom semantics train-classifier",
                description="Train the cifar10-resnet classifier on CIFAR-10 (resumes from OUT/last); "
                            "OUT/final is a task_model checkpoint.")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"passes over the data (default {d.epochs})")
    p.add_argument("--out", default=d.out, help=f"output folder (default {d.out})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"default {d.weight_decay}")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help=f"default {d.label_smoothing}")
    p.add_argument("--widths", default=",".join(map(str, d.widths)),
                   help=f"stem and layer widths (default {','.join(map(str, d.widths))}; "
                        "the original ResNet-9 is 64,128,256,512)")
    p.add_argument("--pool", default=d.pool, choices=("max", "avg"), help=f"global pooling (default {d.pool})")
    p.add_argument("--limit", type=int, help="use only the first N training images")
    p.add_argument("--val-limit", type=int, help="use only the first N validation images")
    p.add_argument("--no-val", action="store_true", help="no validation")
    p.add_argument("--data-root", help="folder holding cifar10_train_jpeg/ and cifar10/ (default: the data root)")
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every,
                   help="also checkpoint every N steps (default: at epoch ends only)")
    p.add_argument("--restart", action="store_true", help="start afresh even if OUT/last exists")
    p.add_argument("--quiet", action="store_true", help="no per-epoch log lines")
    args = p.parse_args(list(argv))
    cfg = ClassifierTrainConfig(epochs=args.epochs, out=args.out, batch_size=args.batch_size, lr=args.lr,
                                weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
                                widths=_widths(args.widths), pool=args.pool, limit=args.limit,
                                val_dataset=None if args.no_val else d.val_dataset, val_limit=args.val_limit,
                                data_root=args.data_root, device=args.device, threads=args.threads,
                                seed=args.seed, ckpt_every=args.ckpt_every)
    final = train_classifier(cfg, restart=args.restart, verbose=not args.quiet)
    from semcom.zoo.checkpoint import read_checkpoint_meta

    acc = read_checkpoint_meta(final).get("info", {}).get("val_accuracy")
    shown = f" (validation accuracy {100 * acc:.2f} %)" if isinstance(acc, (int, float)) else ""
    print(f"final checkpoint: {final}{shown}")
    return 0


def run_semantics(what: str | None, argv: Sequence[str]) -> int:
    """Dispatch ``semcom semantics WHAT [options]``."""
    if what == "sp-weights":
        return sp_weights_command(argv)
    if what == "train-classifier":
        return train_classifier_command(argv)
    if what in (None, "", "-h", "--help"):
        print("usage: semcom semantics {sp-weights,train-classifier} ... (each takes -h)")
        return 0
    raise SemcomError(f"unknown semantics command {what!r} (known: {', '.join(COMMANDS)})")
