"""``semcom compress`` / ``semcom decompress``: files of classical codecs and Quad-LIC,
the model found from the file's header, and one-line errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from semcom.cli import main
from semcom.codecs.base import CodecError
from semcom.codecs.files import compress_image, decompress_file
from semcom.data.io import load_image, save_image

REPO = Path(__file__).resolve().parents[2]
KODIM23 = REPO / "semcom" / "assets" / "kodim23.png"


@pytest.fixture(scope="module")
def crop(tmp_path_factory) -> Path:
    image = load_image(KODIM23)[:, 200:264, 300:380]
    return save_image(image, tmp_path_factory.mktemp("img") / "crop.png")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> tuple[Path, object]:
    """Tiny untrained Quad-LICs exported as the zoo's ladder ``quad_lic_q1`` .. ``q4``
    (returns the folder and ``quad_lic_q1``'s model)."""
    from semcom.models.quad import QuadLIC, export_checkpoint

    folder = tmp_path_factory.mktemp("zoo")
    models = []
    for index in range(1, 5):
        torch.manual_seed(index)
        models.append(QuadLIC(N=16, M=32).update().eval())
        export_checkpoint(models[-1], folder / f"quad_lic_q{index}")
    return folder, models[0]


def test_a_jpeg_file_within_a_bpp_budget_is_a_standard_jpeg(crop, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "x.jpg"
    assert main(["compress", str(crop), "--codec", "jpeg", "--bpp", "1.0", "-o", str(out)]) == 0
    assert "bpp (jpeg, quality" in capsys.readouterr().out
    assert out.stat().st_size * 8 <= 1.0 * 64 * 80
    with Image.open(out) as img:  # no semcom wrapper: any viewer opens it
        assert img.format == "JPEG" and img.size == (80, 64)
    assert main(["decompress", str(out), "-o", str(tmp_path / "x.png")]) == 0
    assert load_image(tmp_path / "x.png").shape == (3, 64, 80)


def test_a_quad_lic_file_names_its_model_and_decodes_bit_exactly(crop, zoo, tmp_path, monkeypatch, capsys):
    folder, model = zoo
    monkeypatch.setenv("SEMCOM_ZOO", str(folder))
    out = tmp_path / "crop.qlc"
    assert main(["compress", str(crop), "--codec", "quad_lic_q1", "-o", str(out)]) == 0
    assert "quad_lic_q1" in capsys.readouterr().out
    assert out.read_bytes() == model.compress(load_image(crop))  # the model's own file
    assert main(["decompress", str(out), "-o", str(tmp_path / "back.png")]) == 0
    assert str(folder / "quad_lic_q1") in capsys.readouterr().out  # found from the header's identifier
    back = load_image(tmp_path / "back.png")
    expected = model.decompress(out.read_bytes())
    assert torch.equal(back, torch.round(expected * 255) / 255)
    # the ladder codec writes the same file for its point 1, and any point decodes from its header
    ladder = tmp_path / "ladder.qlc"
    done = compress_image(load_image(crop), ladder, "quad_lic", quality=1)
    assert done.quality == 1 and ladder.read_bytes() == out.read_bytes()
    third = compress_image(load_image(crop), tmp_path / "q3.qlc", "quad_lic", quality=3)
    assert decompress_file(third.path)[1].endswith("quad_lic_q3")


def test_a_quad_lic_file_without_its_model_is_one_clear_error(crop, zoo, tmp_path, monkeypatch, capsys):
    folder, _ = zoo
    monkeypatch.setenv("SEMCOM_ZOO", str(folder))
    out = tmp_path / "crop.qlc"
    compress_image(load_image(crop), out, "quad_lic_q1")
    monkeypatch.setenv("SEMCOM_ZOO", str(tmp_path / "empty"))
    assert main(["decompress", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not in the zoo" in err and "--model" in err and err.count("\n") == 1
    # given explicitly, the model decodes it
    image, used = decompress_file(out, model=str(folder / "quad_lic_q1"))
    assert image.shape == (3, 64, 80) and used.endswith("quad_lic_q1")


@pytest.mark.parametrize("damage", ["truncate", "flip", "random"])
def test_damaged_files_fail_with_one_line(crop, zoo, tmp_path, monkeypatch, capsys, damage):
    folder, _ = zoo
    monkeypatch.setenv("SEMCOM_ZOO", str(folder))
    out = tmp_path / "crop.qlc"
    compress_image(load_image(crop), out, "quad_lic_q1")
    data = bytearray(out.read_bytes())
    rng = np.random.default_rng(1)
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x10
    else:
        data = bytearray(b"QLC" + rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    out.write_bytes(bytes(data))
    assert main(["decompress", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot decompress") and err.count("\n") == 1


def test_bad_requests_are_one_line_errors(crop, tmp_path, capsys):
    for argv in (["compress", str(crop), "--codec", "nonsense"],
                 ["compress", str(crop), "--codec", "jpeg", "--quality", "50", "--bpp", "1"],
                 ["compress", str(crop), "--codec", "jpeg", "--bpp", "0.001"],
                 ["compress", str(crop), "--codec", "jpeg", "--quality", "500"],
                 ["decompress", str(tmp_path / "missing.qlc")],
                 ["compress", str(crop), "--codec", str(tmp_path / "no" / "checkpoint")],  # a path, no -o
                 ["decompress", str(crop)]):  # would write the PNG over itself
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
    (tmp_path / "junk.bin").write_bytes(b"not an image at all")
    with pytest.raises(CodecError, match="neither a Quad-LIC file nor an image"):
        decompress_file(tmp_path / "junk.bin")


def test_quad_lic_over_5g_ldpc_is_a_digital_link_like_any_other(crop, zoo, monkeypatch):
    from semcom.channels import create_channel
    from semcom.codecs.quad_lic import QuadLICCodec
    from semcom.registry import SYSTEMS

    folder, _ = zoo
    monkeypatch.setenv("SEMCOM_ZOO", str(folder))
    image = load_image(crop)[None]
    link = SYSTEMS.create("digital", codec="quad_lic", cbr=1 / 2, mcs=9)
    result = link.transmit(image, create_channel("awgn"), 30.0, torch.Generator().manual_seed(0))
    assert not bool(result.extras["failed"][0])
    assert isinstance(link.codec, QuadLICCodec)
    fit = link.codec.fit(image[0], link.payload_budget(64, 80, 9))
    assert torch.equal(result.images[0], link.codec.decode(fit.data))
    assert result.extras["payload_bytes"].item() == fit.num_bytes
    assert 0 < int(result.channel_uses[0]) <= 3 * 64 * 80 // 2  # within the budget, header included
