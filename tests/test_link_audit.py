"""The accounting audit: for every registered system, the symbols that really passed
through the channel equal the ``channel_uses`` it reports, per image and per batch."""

from __future__ import annotations

import pytest
import torch

from semcom.channels.awgn import AWGN
from semcom.channels.base import ChannelOutput
from semcom.registry import SYSTEMS
from support.toy_models import TOY_NAME, register_toy, unregister_toy


class RecordingChannel(AWGN):
    """AWGN that records every symbol tensor it is given."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, ...]] = []

    def forward(self, z, snr_db, generator=None) -> ChannelOutput:
        self.calls.append(tuple(z.shape))
        return super().forward(z, snr_db, generator)

    def passed(self) -> int:
        """Complex symbols that entered the channel since the last reset."""
        total = 0
        for shape in self.calls:
            n = 1
            for d in shape:
                n *= d
            total += n
        self.calls.clear()
        return total


@pytest.fixture
def all_systems():
    register_toy()
    yield SYSTEMS.names()
    unregister_toy()


def _images(b: int, side: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(b, 3, side, side, generator=g)
    x[0] *= 0.1  # a low-contrast image beside busy ones: variable lengths differ
    return x


def test_every_registered_system_is_audited(all_systems):
    assert TOY_NAME in all_systems and "digital" in all_systems and "convjscc" in all_systems


@pytest.mark.parametrize("snr_db", [20.0, 0.0])
def test_symbols_that_passed_equal_channel_uses(all_systems, snr_db):
    for name in all_systems:
        factory = SYSTEMS.get(name)
        link = factory(**factory.tiny_config())
        side = 32 if name != TOY_NAME else 16
        x = _images(3, side)
        channel = RecordingChannel()
        gen = torch.Generator().manual_seed(0)
        res = link.transmit(x, channel, snr_db, gen)
        assert channel.passed() == int(res.channel_uses.sum()), name
        for b in range(x.shape[0]):
            one = link.transmit(x[b:b + 1], channel, snr_db, torch.Generator().manual_seed(b))
            assert channel.passed() == int(one.channel_uses[0]), (name, b)
        assert res.channel_uses.dtype == torch.int64 and (res.channel_uses > 0).all(), name


def test_variable_length_batch_differs_per_image_and_side_info_is_charged(all_systems):
    from semcom.phy.bitpipe import side_info_pipe

    link = SYSTEMS.create(TOY_NAME)
    x = _images(3, 16)
    res = link.transmit(x, AWGN(), 30.0, torch.Generator().manual_seed(0))
    sent = res.extras["sent"]
    assert len(set(sent.tolist())) > 1  # lengths differ within the batch
    assert res.channel_uses.tolist() == (sent + side_info_pipe().channel_uses(2)).tolist()
    assert not res.extras["failed"].any()
    forced = link.transmit(x, AWGN(), 30.0, torch.Generator().manual_seed(0), rate=0.5)
    assert forced.extras["sent"].tolist() == [12, 12, 12] and forced.extras["settings"]["rate"] == 0.5
