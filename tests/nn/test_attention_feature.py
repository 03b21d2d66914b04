import torch

from semcom.nn.attention_feature import AttentionFeature


def test_af_scales_each_channel_by_a_factor_in_0_1(gen):
    torch.manual_seed(0)
    af = AttentionFeature(32)
    x = torch.randn(3, 32, 5, 4, generator=gen)
    y = af(x, torch.tensor([0.0, 10.0, 20.0]))
    ratio = y / x
    # one factor per (image, channel), shared by every position
    torch.testing.assert_close(ratio, ratio[..., :1, :1].expand_as(ratio))
    assert (ratio > 0).all() and (ratio < 1).all()


def test_af_depends_on_snr_and_on_the_features(gen):
    af = AttentionFeature(32)
    with torch.no_grad():  # keep the hidden ReLUs active so the test does not hinge on the init
        af.squeeze.weight[:, -1] = 0.1
        af.squeeze.bias.fill_(1.0)
    x = torch.randn(1, 32, 4, 4, generator=gen).expand(2, -1, -1, -1)
    s = af.scales(x, torch.tensor([0.0, 20.0]))
    assert (s[0] - s[1]).abs().max() > 1e-3
    same = af.scales(x, torch.tensor([5.0, 5.0]))
    torch.testing.assert_close(same[0], same[1])
    other = af.scales(x + 1.0, torch.tensor([5.0, 5.0]))
    assert (other - same).abs().max() > 1e-4


def test_af_hidden_width_is_channels_over_16():
    assert AttentionFeature(64).squeeze.out_features == 4
    assert AttentionFeature(64).squeeze.in_features == 65  # pooled features + SNR
    assert AttentionFeature(8).squeeze.out_features == 1


def test_af_broadcasts_a_single_snr(gen):
    af = AttentionFeature(16)
    x = torch.randn(2, 16, 3, 3, generator=gen)
    torch.testing.assert_close(af(x, torch.tensor([7.0])), af(x, torch.tensor([7.0, 7.0])))
