"""Run-time settings: declaration, validation, sides, and the CLI's --run."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.channels.awgn import AWGN
from semcom.cli import main
from semcom.errors import SemcomError
from semcom.settings import AUTO, Setting, parse_run_options, resolve_settings
from support.toy_models import ToyVariableLength

SPECS = (
    Setting("rho_enc", float, 0.5, "encoder", low=0.0, high=1.0, help="encoder ratio"),
    Setting("rho_dec", float, 0.5, "decoder", low=0.0, high=1.0, help="decoder ratio"),
    Setting("mcs", int, None, "link", low=3, high=28, allow_auto=True, help="MCS"),
    Setting("mode", str, "a", "link", choices=("a", "b")),
    Setting("fast", bool, False, "link"),
)


def test_defaults_sides_and_parsing():
    run = resolve_settings(SPECS, {"rho_dec": "1/4", "mcs": "9", "fast": "yes"})
    assert run.as_dict() == {"rho_enc": 0.5, "rho_dec": 0.25, "mcs": 9, "mode": "a", "fast": True}
    assert set(run.encoder()) == {"rho_enc", "mcs", "mode", "fast"}  # never rho_dec
    assert set(run.decoder()) == {"rho_dec", "mcs", "mode", "fast"}  # never rho_enc
    assert resolve_settings(SPECS, {"mcs": "AUTO"})["mcs"] == AUTO
    assert resolve_settings(SPECS, {})["mcs"] is None


@pytest.mark.parametrize("given, message", [
    ({"rho": 0.1}, "no run-time setting rho; did you mean"),
    ({"rho_enc": 1.5}, "must be in [0, 1]"),
    ({"rho_enc": math.nan}, "must be finite"),
    ({"rho_enc": "high"}, "must be a number"),
    ({"mcs": 9.5}, "must be an integer"),
    ({"mcs": True}, "must be an integer"),
    ({"mode": "c"}, "must be one of a, b"),
    ({"fast": "maybe"}, "must be true or false"),
])
def test_bad_settings_get_one_clear_error(given, message):
    with pytest.raises(SemcomError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve_settings(SPECS, given, "system x")


def test_run_options_parse_name_value_pairs():
    assert parse_run_options(["rho_enc=0.3", "mcs = auto"]) == {"rho_enc": "0.3", "mcs": "auto"}
    with pytest.raises(SemcomError, match="NAME=VALUE"):
        parse_run_options(["rho_enc"])


def test_encoder_setting_reaches_only_the_encoder_and_decoder_setting_only_the_decoder():
    seen = {}

    class Spy(ToyVariableLength):
        def encode(self, images, snr_db, **kw):
            seen["enc"] = kw
            return super().encode(images, snr_db, **kw)

        def decode(self, received, snr_db, side, **kw):
            seen["dec"] = kw
            return super().decode(received, snr_db, side, **kw)

    model = Spy()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    bright = model.transmit(x, AWGN(), 30.0, torch.Generator().manual_seed(0), rate=1.0, gain=2.0)
    assert seen == {"enc": {"rate": 1.0}, "dec": {"gain": 2.0}}
    plain = model.transmit(x, AWGN(), 30.0, torch.Generator().manual_seed(0), rate=1.0)
    assert bright.extras["settings"] == {"rate": 1.0, "gain": 2.0}
    assert (bright.images >= plain.images - 1e-6).all() and (bright.images > plain.images).any()
    with pytest.raises(SemcomError, match="no run-time setting rho_dec"):
        model.transmit(x, AWGN(), 30.0, rho_dec=0.1)


def test_settings_are_not_part_of_identity():
    model = ToyVariableLength()
    config = dict(model.config)
    model.transmit(torch.rand(1, 3, 16, 16), AWGN(), 10.0, rate=0.3)
    assert model.config == config and "rate" not in model.config
    assert set(model.state_dict()) == {"scale"}


def test_training_modes_switch_and_validate():
    model = ToyVariableLength()
    assert model.mode == {"quantize": "noise"}
    assert model.set_modes(quantize="ste") == {"quantize": "ste"} and "quantize" not in model.config
    with pytest.raises(SemcomError, match="must be one of noise, ste"):
        model.set_modes(quantize="round")
    with pytest.raises(SemcomError, match="no run-time setting"):
        model.set_modes(rate_set="small")


def test_cli_transmit_takes_run_settings(capsys, tmp_path):
    from semcom.data.io import save_image

    image = tmp_path / "x.png"
    save_image(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)), image)
    assert main(["transmit", str(image), "--system", "digital", "--codec", "jpeg", "--cbr", "1/2",
                 "--snr", "20", "--run", "mcs=9", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "settings    mcs=9" in out and "mcs         9" in out
    assert main(["transmit", str(image), "--system", "digital", "--codec", "jpeg", "--run", "mcs=99"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mcs must be in [3, 28]" in err
