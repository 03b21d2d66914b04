"""Pretrained checkpoints and the checkpoint format."""

from semcom.zoo.checkpoint import Checkpoint, load_checkpoint, read_checkpoint_meta, save_checkpoint, sha256_file
from semcom.zoo.pretrained import DEFAULT_PRETRAINED, WEIGHTS_DIR, has_pretrained, list_pretrained, pretrained_path

__all__ = ["Checkpoint", "load_checkpoint", "read_checkpoint_meta", "save_checkpoint", "sha256_file",
           "DEFAULT_PRETRAINED", "WEIGHTS_DIR", "has_pretrained", "list_pretrained", "pretrained_path"]
