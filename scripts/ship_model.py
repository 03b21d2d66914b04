"""Copy a trained run's final checkpoint into the zoo (fp16), with its measured PSNR.

    python scripts/ship_model.py runs/RUN/final ZOO_NAME --dataset cifar10 --train-snr 7
    python scripts/ship_model.py runs/classifier/final cifar10-resnet_cifar10 --dataset cifar10
    python scripts/ship_model.py runs/RUN/final ZOO_NAME --dataset hr --train-snr 0,20
    python scripts/ship_model.py runs/RUN/last ZOO_NAME --dataset hr --train-snr 1,4,7,10 \
        --channel rayleigh --prior-steps 1200 --history "..."

``--prior-steps`` adds the steps of earlier parts of a run continued with ``init_from``
(a training longer than a session), so ``info`` records the whole budget: ``steps``,
``batch_size``, ``crop`` and ``crops_seen = steps * batch_size``. A run's ``last``
checkpoint can be shipped before the run ends (``info["complete"]`` says whether the
configured steps were reached).

PSNR is measured on the 1,000 lossless CIFAR-10 test images (CIFAR models) or the 24
Kodak images (high-resolution models), AWGN, at the training SNR (10 dB for models
trained over a range), one noise draw, seed 0. A task model (a classifier checkpoint of
kind ``task_model``, ``semcom semantics train-classifier``) is measured instead by its
top-1 accuracy and macro F1 on the 1,000 lossless CIFAR-10 test images, with the fp16
weights it ships with (``info["accuracy"]``, shown by ``semcom models``).
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from semcom.evaluation.bench import dataset_psnr, load_images  # noqa: E402
from semcom.models import load_model, save_model  # noqa: E402
from semcom.zoo import WEIGHTS_DIR  # noqa: E402


def _run_config(run_dir: str) -> dict:
    """The run's resolved config (``config.yaml`` the trainer writes), or ``{}``."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(path):
        return {}
    import yaml

    return yaml.safe_load(open(path)) or {}


def ship_task_model(checkpoint: str, name: str, trained_on: str) -> None:
    """Ship a classifier: fp16 weights, measured as shipped on the lossless test images."""
    from semcom.metrics.task import macro_f1, top1_accuracy
    from semcom.semantics.train_classifier import load_labelled, predict_labels
    from semcom.zoo.pretrained import load_built
    from semcom.zoo.checkpoint import load_checkpoint, save_checkpoint

    stored = load_checkpoint(checkpoint)
    info = {k: v for k, v in stored.info.items() if k != "val_accuracy"}
    base = WEIGHTS_DIR / name
    save_checkpoint(base, stored.tensors, stored.system, stored.config, info, dtype=torch.float16)
    model = load_built(str(base), kind="task_model").eval()
    images, labels, _ = load_labelled("cifar10", options={"split": "test"})
    preds = predict_labels(model, images, "cpu", batch_size=500)
    accuracy = top1_accuracy(preds, labels)
    f1 = macro_f1(preds, labels, int(stored.config.get("num_classes", 10)))
    info.update(accuracy=round(accuracy, 4), macro_f1=round(f1, 4),
                accuracy_on=f"CIFAR-10 test {images.shape[0]} (lossless), fp16 weights", trained_on=trained_on)
    save_checkpoint(base, stored.tensors, stored.system, stored.config, info, dtype=torch.float16)
    print(f"shipped {base} accuracy {100 * accuracy:.2f} %, macro F1 {f1:.4f} ({info['accuracy_on']})")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("name")
    p.add_argument("--dataset", choices=["cifar10", "hr"], required=True)
    p.add_argument("--train-snr", help="one value, or lo,hi for a range (links and codecs)")
    p.add_argument("--kodak-limit", type=int, default=None)
    p.add_argument("--trained-on", default="2-core CPU", help="the hardware, for the registry")
    p.add_argument("--train-data", default=None, help="the training data, if not the default description")
    p.add_argument("--history", default=None, help="how the weights were trained (recorded as info.history)")
    p.add_argument("--channel", default="awgn", help="training (and PSNR) channel: awgn or rayleigh")
    p.add_argument("--prior-steps", type=int, default=0, help="steps of earlier parts (init_from chain)")
    p.add_argument("--target-steps", type=int, default=None, help="the whole planned budget in steps")
    args = p.parse_args()
    torch.set_num_threads(2)
    from semcom.zoo.checkpoint import read_checkpoint_meta

    if read_checkpoint_meta(args.checkpoint).get("info", {}).get("kind") == "task_model":
        ship_task_model(args.checkpoint, args.name, args.trained_on)
        return
    if args.train_snr is None:
        p.error("--train-snr is required for a link or codec checkpoint")
    model = load_model(args.checkpoint)
    snr = [float(v) for v in args.train_snr.split(",")]
    eval_snr = snr[0] if len(snr) == 1 else 10.0
    run_dir = os.path.dirname(args.checkpoint)
    run_meta = json.loads(open(os.path.join(run_dir, "last.json")).read())
    run_config = _run_config(run_dir)
    if args.dataset == "cifar10":
        images = load_images("cifar10", None)
        data, on = "CIFAR-10 train (50,000 JPEG)", f"CIFAR-10 test 1000, AWGN {eval_snr:g} dB"
        psnr_db = dataset_psnr(model, images, eval_snr, 100, 0)
    else:
        images = load_images("kodak", args.kodak_limit)
        data = "crops of urban100+cbsd68+cbsd432+sun_hays80+mcmaster"
        on = f"Kodak {len(images)}, AWGN {eval_snr:g} dB"
        psnr_db = dataset_psnr(model, images, eval_snr, 1, 0, channel=args.channel)
        on = on.replace("AWGN", {"awgn": "AWGN", "rayleigh": "Rayleigh"}.get(args.channel, args.channel))
    data = args.train_data or data
    steps_here = run_meta.get("info", {}).get("training", {}).get("step")
    batch = run_config.get("batch_size")
    total = None if steps_here is None else int(steps_here) + args.prior_steps
    info = {"dataset": data, "train_snr_db": snr[0] if len(snr) == 1 else snr, "channel": args.channel,
            "psnr_db": round(psnr_db, 3), "psnr_on": on, "steps": total,
            "trained_on": args.trained_on, **({"history": args.history} if args.history else {})}
    if batch is not None and total is not None:
        info.update(batch_size=int(batch), crop=(run_config.get("data") or {}).get("crop"),
                    crops_seen=int(batch) * total)
    if args.target_steps:
        info.update(target_steps=args.target_steps, complete=bool(total and total >= args.target_steps))
    base = save_model(model, WEIGHTS_DIR / args.name, info=info, dtype=torch.float16)
    print(f"shipped {base} PSNR {psnr_db:.2f} dB ({on})")


if __name__ == "__main__":
    main()
