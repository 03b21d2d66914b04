"""Complexity counters against hand counts."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.metrics.complexity import (
    ComplexityReport,
    count_macs,
    count_parameters,
    measure_complexity,
    median_latency,
    peak_memory,
)

MIB = 2**20


def test_linear_macs_are_in_times_out() -> None:
    layer = nn.Linear(37, 11)
    assert count_macs(layer, torch.rand(1, 37)) == 37 * 11
    assert count_macs(layer, torch.rand(4, 37)) == 4 * 37 * 11


@pytest.mark.parametrize(("groups", "stride"), [(1, 1), (1, 2), (4, 1)])
def test_conv_macs_match_the_hand_formula(groups: int, stride: int) -> None:
    c_in, c_out, k, size, pad = 8, 12, 3, 17, 1
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, groups=groups)
    out = (size + 2 * pad - k) // stride + 1
    expected = out * out * c_out * (c_in // groups) * k * k
    assert count_macs(conv, torch.rand(1, c_in, size, size)) == expected


def test_macs_of_a_function_and_of_elementwise_work() -> None:
    a, b = torch.rand(5, 6), torch.rand(6, 7)
    assert count_macs(lambda x, y: torch.relu(x @ y) + 1, a, b) == 5 * 6 * 7
    assert count_macs(torch.sigmoid, a) == 0


def test_parameter_count_matches_hand_count() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 2, 1, bias=False), shared, shared
    )
    model[0].bias.requires_grad_(False)
    assert count_parameters(model) == (8 * 3 * 9 + 8) + 8 * 2 + (16 + 4)
    assert count_parameters(model, trainable_only=True) == 8 * 3 * 9 + 8 * 2 + 20


def test_cpu_peak_memory_is_a_peak_not_a_total() -> None:
    n = MIB  # float32 elements: 4 MiB per tensor

    def two_live() -> None:
        a = torch.ones(n)
        b = torch.ones(n)
        del a, b

    def one_at_a_time() -> None:
        for _ in range(5):
            t = torch.ones(n)  # the next one is allocated before the last is freed
        del t

    assert 8 * MIB <= peak_memory(two_live) < 8 * MIB + 64 * 1024
    assert 8 * MIB <= peak_memory(one_at_a_time) < 8 * MIB + 64 * 1024
    assert peak_memory(lambda: None) == 0


def test_latency_is_the_median_of_the_repeats() -> None:
    durations = iter([0.0] * 2 + [0.002, 0.15, 0.002, 0.002, 0.15])
    calls = []

    def fn() -> None:
        calls.append(1)
        time.sleep(next(durations))

    latency = median_latency(fn, warmup=2, repeats=5)
    assert len(calls) == 7
    # median of [2, 150, 2, 2, 150] ms is 2 ms; the mean would be 61 ms
    assert 0.002 <= latency < 0.05
    with pytest.raises(SemcomError, match="repeats"):
        median_latency(fn, repeats=0)


def test_measure_complexity_combines_everything() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1))
    x = torch.rand(1, 3, 16, 16)
    report = measure_complexity(model, x, name="toy", warmup=1, repeats=3)
    assert isinstance(report, ComplexityReport)
    assert report.parameters == (4 * 27 + 4) + (3 * 4 + 3)
    assert report.parameter_bytes == 4 * report.parameters
    assert report.macs == 16 * 16 * (4 * 27 + 3 * 4)
    # two activations of 4 x 16 x 16 float32 (conv output, relu output) are live at once
    assert report.peak_memory_bytes >= 2 * 4 * 16 * 16 * 4
    assert report.latency_s > 0
    assert report.device == "cpu" and report.threads == torch.get_num_threads()
    assert report.as_dict()["input_shapes"] == [[1, 3, 16, 16]]
    assert "toy @ 1x3x16x16" in str(report)


def test_encoder_decoder_costs_route_settings_and_reject_unknown_ones() -> None:
    from semcom.errors import SemcomError
    from semcom.metrics.complexity import encoder_decoder_costs
    from semcom.models import ConvJSCC

    model = ConvJSCC(cbr=1 / 6, widths=[4, 4, 4, 4]).eval()
    x, snr = torch.rand(1, 3, 32, 32), torch.full((1,), 10.0)
    costs = encoder_decoder_costs(model, x, snr, warmup=0, repeats=1)
    # five 5x5 convolutions, strides 2, 2, 1, 1, 1: 3->4 at 16x16, 4->4 at 8x8 (x3), 4->16 at 8x8
    assert costs["macs_encoder"] == 25 * (16 * 16 * 3 * 4 + 3 * 8 * 8 * 4 * 4 + 8 * 8 * 4 * 16) == 256000
    assert costs["macs_decoder"] > 0 and costs["latency_encode_s"] > 0 and costs["latency_decode_s"] > 0
    with pytest.raises(SemcomError, match="no run-time setting rho_enc"):
        encoder_decoder_costs(model, x, snr, rho_enc=0.5)


def _spy_toy(receives: str = "equalized"):
    """A :class:`ToyVariableLength` (with its 1x1 refine conv) that records what its
    encoder and decoder receive."""
    from semcom.channels import ChannelOutput
    from semcom.channels.equalization import equalize
    from support.toy_models import ToyVariableLength

    class Spy(ToyVariableLength):
        def __init__(self) -> None:
            super().__init__(refine=True)
            self.calls: list[tuple[str, dict, object]] = []

        def encode(self, images, snr_db, **kw):
            self.calls.append(("encode", kw, images))
            return super().encode(images, snr_db, **kw)

        def decode(self, received, snr_db, side, **kw):
            self.calls.append(("decode", kw, received))
            if isinstance(received, ChannelOutput):
                received = equalize(received, self.equalizer)
            return super().decode(received, snr_db, side, **kw)

    Spy.receives = receives
    return Spy().eval()


def test_encoder_decoder_costs_decode_what_the_channel_delivers() -> None:
    from semcom.channels import ChannelOutput
    from semcom.metrics.complexity import encoder_decoder_costs

    model = _spy_toy()
    x, snr = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.full((1,), 10.0)
    costs = encoder_decoder_costs(model, x, snr, warmup=0, repeats=2, rate=0.5, gain=2.0)
    encodes = [kw for side, kw, _ in model.calls if side == "encode"]
    decodes = [(kw, got) for side, kw, got in model.calls if side == "decode"]
    assert encodes and all(kw == {"rate": 0.5} for kw in encodes)  # rate reaches only the encoder
    assert decodes and all(kw == {"gain": 2.0} for kw, _ in decodes)  # gain only the decoder
    assert costs["macs_decoder"] == 32 * 32 * 3 * 3  # the 1x1 refine conv, 3 -> 3 channels
    assert costs["macs_encoder"] == 0  # average pooling and a scalar gain: no multiply-accumulates
    sent = model.encode(x, snr, rate=0.5)
    mask = sent.mask
    assert 0 < int(mask.sum()) < mask.numel()  # variable length: half the symbols sent
    for _, got in decodes:
        assert isinstance(got, torch.Tensor) and got.shape == sent.symbols.shape
        assert torch.all(got[~mask] == 0)  # nothing arrives where nothing was sent
        assert not torch.equal(got[mask], sent.symbols[mask])  # the sent symbols went through AWGN
        assert (got[mask] - sent.symbols[mask]).abs().pow(2).mean() < 0.5  # at 10 dB: noise var 0.1

    raw = _spy_toy("channel_output")
    encoder_decoder_costs(raw, x, snr, warmup=0, repeats=1)
    outputs = [got for side, _, got in raw.calls if side == "decode"]
    assert outputs and all(isinstance(got, ChannelOutput) for got in outputs)
