import pytest
import torch

from semcom.channels.base import Channel
from semcom.conventions import psnr
from semcom.errors import SemcomError
from semcom.phy.bitpipe import side_info_pipe
from semcom.registry import SYSTEMS


def _images(b=2, h=16, w=20):
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 3, h, w, generator=g)


def test_uncoded_counts_channel_uses_and_improves_with_snr():
    link = SYSTEMS.create("uncoded")
    x = _images()
    res = [link.transmit(x, Channel(), snr, torch.Generator().manual_seed(1)) for snr in (0.0, 20.0)]
    n = 3 * 16 * 20
    gain = side_info_pipe().channel_uses(2)  # the float16 gain over 5G NR at MCS 3
    assert 0 < gain < 200
    assert res[0].channel_uses.tolist() == [n // 2 + gain] * 2  # pixels in pairs + the gain
    torch.testing.assert_close(res[0].cbr, torch.full((2,), (n // 2 + gain) / n, dtype=torch.float64))
    assert not res[0].extras["failed"].any()
    p_low, p_high = psnr(x, res[0].images).mean(), psnr(x, res[1].images).mean()
    assert p_high > p_low + 10
    assert res[1].images.min() >= 0 and res[1].images.max() <= 1


def test_uncoded_noiseless_is_lossless_to_8_bits():
    x = torch.round(_images() * 255) / 255
    out = SYSTEMS.create("uncoded").transmit(x, Channel(), 200.0)
    assert psnr(x, out.images).min() == 100.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_uncoded_rejects_bad_snr(bad):
    with pytest.raises(SemcomError):
        SYSTEMS.create("uncoded").transmit(_images(), Channel(), bad)


def test_link_rejects_bad_images():
    link = SYSTEMS.create("uncoded")
    with pytest.raises(SemcomError):
        link.transmit(torch.rand(3, 8, 8), Channel(), 10.0)
    with pytest.raises(SemcomError):
        link.transmit(torch.rand(1, 3, 8, 8) * 2, Channel(), 10.0)
    with pytest.raises(SemcomError):
        SYSTEMS.create("uncoded", equalizer="magic")
