import json

import pytest
import torch

from semcom.errors import CheckpointError
from semcom.zoo.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_and_fp16(tmp_path):
    t = {"w": torch.randn(4, 3), "b": torch.arange(5)}
    base = save_checkpoint(tmp_path / "m", t, system="toy", config={"width": 4}, info={"psnr_db": 30.0})
    ck = load_checkpoint(base)
    assert ck.system == "toy" and ck.config == {"width": 4} and ck.info["psnr_db"] == 30.0
    torch.testing.assert_close(ck.tensors["w"], t["w"])
    half = load_checkpoint(save_checkpoint(tmp_path / "h", t, "toy", {}, dtype=torch.float16))
    assert half.tensors["w"].dtype == torch.float16 and half.tensors["b"].dtype == torch.int64


def test_corruption_is_detected(tmp_path):
    base = save_checkpoint(tmp_path / "m", {"w": torch.randn(64)}, "toy", {})
    st = tmp_path / "m.safetensors"
    data = bytearray(st.read_bytes())
    data[-3] ^= 0xFF
    st.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(base)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "other"}), json.dumps([1, 2])])
def test_bad_config_files(tmp_path, content):
    save_checkpoint(tmp_path / "m", {"w": torch.zeros(1)}, "toy", {})
    (tmp_path / "m.json").write_text(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "m")


def test_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent")
    save_checkpoint(tmp_path / "m", {"w": torch.zeros(1)}, "toy", {})
    (tmp_path / "m.safetensors").unlink()
    with pytest.raises(CheckpointError, match="weights not found"):
        load_checkpoint(tmp_path / "m")


def test_truncated_weights_with_matching_hash_fail_cleanly(tmp_path):
    from semcom.zoo.checkpoint import sha256_file

    save_checkpoint(tmp_path / "m", {"w": torch.zeros(100)}, "toy", {})
    st = tmp_path / "m.safetensors"
    st.write_bytes(st.read_bytes()[:20])
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["sha256"] = sha256_file(st)
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "m")
