"""The command line: every command answers, user errors are one line with status 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from semcom.cli import main

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "semcom" / "assets" / "kodim23.png"


def test_channels_lists_every_channel(capsys):
    assert main(["channels"]) == 0
    out = capsys.readouterr().out
    for name in ("awgn", "rayleigh", "rician", "gauss-markov", "gilbert-elliott", "blockage", "composite"):
        assert name in out
    assert "block_length" in out and "K=" in out


def test_models_lists_systems(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "convjscc" in out and "adjscc" in out and "uncoded" in out
    assert "learned codec models" in out and "quad_lic       Quad-LIC" in out  # trainable by semcom train


def test_transmit_uncoded_writes_image_and_prints_metrics(tmp_path, capsys):
    from semcom.conventions import psnr
    from semcom.data.io import load_image

    out_png = tmp_path / "out.png"
    code = main(["transmit", str(DEMO), "--system", "uncoded", "--channel", "rayleigh",
                 "--snr", "10", "-o", str(out_png)])
    assert code == 0
    text = capsys.readouterr().out
    for field in ("PSNR", "SSIM", "MS-SSIM", "CBR"):
        assert field in text
    rec = load_image(out_png)
    ref = load_image(DEMO)
    assert rec.shape == ref.shape
    printed = float(text.split("PSNR")[1].split("dB")[0])
    assert printed == pytest.approx(psnr(ref[None], rec[None]).item(), abs=0.01)
    assert 12 < printed < 30  # uncoded analog over Rayleigh at 10 dB: noisy but recognisable


def test_transmit_without_a_system_uses_the_channels_default_model(tmp_path, capsys):
    from semcom.zoo import DEFAULT_PRETRAINED, DEFAULT_PRETRAINED_BY_CHANNEL, default_pretrained, has_pretrained

    assert default_pretrained("awgn") == default_pretrained(None) == DEFAULT_PRETRAINED
    assert default_pretrained("gilbert-elliott") == DEFAULT_PRETRAINED  # no default of its own
    rayleigh = DEFAULT_PRETRAINED_BY_CHANNEL["rayleigh"][0]
    assert has_pretrained(rayleigh) and default_pretrained("Rayleigh") == rayleigh
    assert default_pretrained("rayleigh", {"block_length": 1}) == rayleigh
    # trained on fast fading with perfect CSI: block fading or a noisy estimate keep the AWGN model
    assert default_pretrained("rayleigh", {"block_length": 0}) == DEFAULT_PRETRAINED
    assert default_pretrained("rayleigh", {"csi_nmse": 0.1}) == DEFAULT_PRETRAINED
    small = tmp_path / "small.png"
    from PIL import Image

    with Image.open(DEMO) as im:
        im.crop((0, 0, 64, 64)).save(small)
    for extra, name in ((["--channel", "rayleigh"], rayleigh), (["--channel", "awgn"], DEFAULT_PRETRAINED),
                        (["--channel", "rayleigh", "-p", "block_length=16"], DEFAULT_PRETRAINED)):
        assert main(["transmit", str(small), *extra, "--snr", "10", "-o", str(tmp_path / "o.png")]) == 0
        system_line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("system")][0]
        assert f"({name})" in system_line


@pytest.mark.parametrize("argv,message", [
    (["transmit", str(DEMO), "--system", "uncoded", "--snr", "nan"], "SNR must be finite"),
    (["transmit", str(DEMO), "--system", "uncoded", "--channel", "nope"], "unknown channel"),
    (["transmit", str(DEMO), "--system", "uncoded", "--channel", "rician", "-p", "K=-1"], "K must be"),
    (["transmit", str(DEMO), "--system", "nosuchsystem"], "unknown system"),
    (["transmit", "/nonexistent/image.png", "--system", "uncoded"], "image"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_corrupt_image_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    assert main(["transmit", str(bad), "--system", "uncoded"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_python_dash_m_semcom_answers():
    out = subprocess.run([sys.executable, "-m", "semcom", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "transmit" in out.stdout
