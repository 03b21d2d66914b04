"""Pretrained checkpoints, the checkpoint format, and :func:`build`: one face for every system.

``build("uncoded")``, ``build("convjscc_cifar10_cbr1-12_snr7")`` and
``build("runs/x/final")`` build a system by registry name, zoo name or checkpoint path.
"""

from semcom.zoo.checkpoint import Checkpoint, load_checkpoint, read_checkpoint_meta, save_checkpoint, sha256_file
from semcom.zoo.pretrained import (DEFAULT_PRETRAINED, DEFAULT_PRETRAINED_BY_CHANNEL, KINDS, WEIGHTS_DIR, build,
                                   checkpoint_kind, default_pretrained, has_pretrained, list_pretrained, load_built,
                                   pretrained_path)

__all__ = ["Checkpoint", "load_checkpoint", "read_checkpoint_meta", "save_checkpoint", "sha256_file",
           "DEFAULT_PRETRAINED", "DEFAULT_PRETRAINED_BY_CHANNEL", "default_pretrained", "KINDS", "WEIGHTS_DIR",
           "build", "checkpoint_kind", "has_pretrained", "list_pretrained", "load_built", "pretrained_path"]
