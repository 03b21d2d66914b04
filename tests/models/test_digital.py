"""The digital baseline (codec + LDPC + QAM) answers the link interface honestly."""

import pytest
import torch

from semcom.channels import create_channel
from semcom.conventions import LOST_IMAGE_VALUE, channel_uses_for_cbr
from semcom.errors import SemcomError
from semcom.models.digital import CONTROL_MCS, HEADER_BYTES
from semcom.phy import plan_transport
from semcom.registry import SYSTEMS


@pytest.fixture(scope="module")
def image():
    # a smooth synthetic 48x64 image (codecs compress it well; no shared data needed)
    y, x = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    return torch.stack([x, y, (x + y) / 2]).unsqueeze(0).clamp(0, 1)


def test_noiseless_channel_returns_codec_output_bit_exactly(image):
    link = SYSTEMS.create("digital", codec="jpeg", cbr=1 / 2, mcs=9)
    res = link.transmit(image, create_channel("awgn"), 60.0, torch.Generator().manual_seed(0))
    fit = link.codec.fit(image[0], link.payload_budget(48, 64, 9))
    assert not res.extras["failed"].item()
    assert torch.equal(res.images[0], link.codec.decode(fit.data))
    assert res.extras["payload_bytes"].item() == fit.num_bytes
    assert res.extras["transmissions"].item() == 1


@pytest.mark.parametrize("fill", [True, False])
def test_channel_uses_match_hand_count(image, fill):
    link = SYSTEMS.create("digital", codec="jpeg", cbr=1 / 2, mcs=9, fill_budget=fill)
    res = link.transmit(image, create_channel("awgn"), 60.0)
    nbytes = res.extras["payload_bytes"].item()
    sent = link.payload_budget(48, 64, 9) if fill else nbytes  # the budget's payload, or the codec's bytes
    assert sent >= nbytes
    header = plan_transport(8 * HEADER_BYTES, CONTROL_MCS)
    data = plan_transport(8 * sent, 9)
    expected = header.num_tbs * header.coded_bits_per_tb // 2 + data.num_tbs * data.coded_bits_per_tb // 2
    assert res.channel_uses.item() == expected  # MCS 3 and 9 are both QPSK: 2 bits per symbol
    assert expected <= channel_uses_for_cbr(1 / 2, 48, 64)
    assert res.cbr.item() == pytest.approx(expected / (3 * 48 * 64))
    if fill:  # the allocation, not the image, sets the TBs: another image costs the same
        other = SYSTEMS.create("digital", codec="jpeg", cbr=1 / 2, mcs=9).transmit(image.flip(-1) * 0.5,
                                                                                 create_channel("awgn"), 60.0)
        assert other.extras["payload_bytes"].item() != nbytes
        assert other.channel_uses.item() == expected
        assert expected > channel_uses_for_cbr(1 / 2, 48, 64) - data.symbols_per_tb


def test_worker_processes_give_the_same_result(image):
    batch = torch.cat([image, image.flip(-1), image.flip(-2)])
    results = []
    for workers in (1, 2):
        link = SYSTEMS.create("digital", codec="jpeg", cbr=1 / 4, workers=workers)
        results.append(link.transmit(batch, create_channel("rayleigh"), 8.0, torch.Generator().manual_seed(3)))
    one, two = results
    assert torch.equal(one.images, two.images)
    assert torch.equal(one.channel_uses, two.channel_uses)
    assert torch.equal(one.extras["transmissions"], two.extras["transmissions"])


def test_failures_are_counted_with_retransmissions_and_a_gray_image(image):
    link = SYSTEMS.create("digital", codec="jpeg", cbr=1 / 2, mcs=20, max_retransmissions=2)
    res = link.transmit(image, create_channel("awgn"), -5.0, torch.Generator().manual_seed(1))
    assert res.extras["failed"].item()
    assert res.extras["transmissions"].item() == 3  # the first and two retransmissions
    assert torch.all(res.images == LOST_IMAGE_VALUE)
    single = plan_transport(8 * res.extras["payload_bytes"].item(), 20).channel_uses
    assert res.channel_uses.item() > 2 * single  # every transmission is charged


def test_budget_too_small_is_a_loss_not_a_crash(image):
    link = SYSTEMS.create("digital", codec="jpeg", cbr=1 / 200, mcs=9)
    res = link.transmit(image, create_channel("awgn"), 20.0)
    assert res.extras["failed"].item() and res.extras["failure_reason"] == ["budget"]
    # only the header went out (saying nothing follows): that is what is charged
    assert res.channel_uses.item() == link.control_channel_uses() > channel_uses_for_cbr(1 / 200, 48, 64)


def test_wifi_phy_fixed_mode(image):
    link = SYSTEMS.create("digital", codec="jpeg", cbr=1 / 2, phy="wifi", bits_per_symbol=4)
    res = link.transmit(image, create_channel("awgn"), 30.0, torch.Generator().manual_seed(0))
    assert not res.extras["failed"].item()
    sent = link.payload_budget(48, 64, None)  # the codec's bytes padded to the budget
    assert sent >= res.extras["payload_bytes"].item()
    blocks = -(-8 * sent // 1458) + 1  # data + header block
    assert res.channel_uses.item() == blocks * 1944 // 4


@pytest.mark.parametrize("kwargs,match", [({"mcs": 1}, "MCS"), ({"phy": "lte"}, "phy"),
                                          ({"codec": "gif"}, "codec"), ({"target_bler": 2}, "target_bler"),
                                          ({"workers": 0}, "workers"), ({"harq": "soft"}, "harq"),
                                          ({"max_retransmissions": -1}, "max_retransmissions"),
                                          ({"bler_table": "rician"}, "bler_table")])
def test_bad_settings_are_clear_errors(kwargs, match):
    with pytest.raises(SemcomError, match=match):
        SYSTEMS.create("digital", **kwargs)


def test_defaults_are_harq_ir_with_four_transmissions():
    link = SYSTEMS.create("digital")
    assert (link.tb_link.harq, link.tb_link.max_retransmissions) == ("ir", 3)
    assert SYSTEMS.create("digital", max_retransmissions=9, harq="chase").tb_link.max_retransmissions == 9
    assert "phy_abstraction" in [s.name for s in type(link).settings]


def test_image_too_small_for_the_codec_is_a_counted_failure():
    link = SYSTEMS.create("digital", codec="hevc", cbr=1 / 2)
    images = torch.rand(2, 3, 8, 8)
    res = link.transmit(images, create_channel("awgn"), 20.0, torch.Generator().manual_seed(0))
    assert res.extras["failed"].all() and res.extras["failure_reason"] == ["size", "size"]
    assert (res.images == LOST_IMAGE_VALUE).all()
    assert (res.channel_uses == link.control_channel_uses()).all()  # the header says nothing follows


@pytest.mark.parametrize("phy", ["5g", "wifi"])
def test_phy_abstraction_counts_channel_uses_as_full_simulation(image, phy):
    """Same channel uses and exact bytes at high SNR; losses at an SNR far below the MCS."""
    link = SYSTEMS.create("digital", codec="jpeg", cbr=1 / 2, mcs=9, phy=phy)
    full = link.transmit(image, create_channel("awgn"), 40.0, torch.Generator().manual_seed(0))
    fast = link.transmit(image, create_channel("awgn"), 40.0, torch.Generator().manual_seed(0), phy_abstraction=True)
    assert torch.equal(full.images, fast.images) and torch.equal(full.channel_uses, fast.channel_uses)
    lost = link.transmit(image, create_channel("awgn"), -5.0, torch.Generator().manual_seed(0), phy_abstraction=True)
    assert lost.extras["failed"].all() and lost.extras["failure_reason"] == ["crc"]
    if phy == "5g":  # every TB went out four times (HARQ), as a full simulation would send them
        assert lost.extras["transmissions"].item() == 4
        assert lost.channel_uses.item() > 3 * full.channel_uses.item()
