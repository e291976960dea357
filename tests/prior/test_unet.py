"""The 1D UNet: shapes, the paper's sizes, positional encoding and that conditioning reaches the output."""

import math

import pytest
import torch

from ecgdiff.diffusion.networks.beat_unet import ResBlock, UNet1D, UNetConfig, count_parameters, positional_encoding


def _randomise_output(net):
    torch.manual_seed(3)
    with torch.no_grad():  # the output layer (and residual branches) start at zero; make them non-trivial
        for name, p in net.named_parameters():
            if "out_conv" in name or "conv1" in name or "proj" in name:
                p.normal_(0, 0.1)


@pytest.mark.parametrize(
    "kw",
    [
        dict(channels=16, num_blocks=1, attn_levels=[]),
        dict(channels=16, num_blocks=2, channel_mult=[1, 2], attn_levels=[1]),
        dict(channels=32, num_blocks=1, channel_mult=[1, 1, 2], attn_levels=[0, 2]),
    ],
)
def test_shapes(kw):
    net = UNet1D(UNetConfig(leads=9, length=176, **kw))
    x = torch.randn(3, 9, 176)
    out = net(x, torch.randn(3), torch.randn(3, 4))
    assert out.shape == x.shape


def test_paper_size_and_heads():
    net = UNet1D(UNetConfig())  # 192 channels, 1 level, 2 blocks, attention
    heads = [m.heads for m in net.modules() if isinstance(m, ResBlock) and m.heads]
    assert heads and set(heads) == {3}  # 192 / 64
    assert 5e6 < count_parameters(net) < 7e6
    assert UNet1D(UNetConfig(channels=32)).enc[0].heads == 1  # at least one head


def test_positional_encoding_eq6():
    pe = positional_encoding(torch.tensor([7.0]), 192)[0]
    r = 5
    assert pe[2 * r].item() == pytest.approx(math.sin(1000 ** (-r / 96) * 7))
    assert pe[2 * r + 1].item() == pytest.approx(math.cos(1000 ** (-r / 96) * 7))


def test_conditioning_changes_the_output_and_unconditional_has_no_mlp():
    torch.manual_seed(0)
    net = UNet1D(UNetConfig(leads=9, length=176, channels=16, num_blocks=1)).eval()
    _randomise_output(net)
    x, cn = torch.randn(2, 9, 176), torch.zeros(2)
    c1 = torch.tensor([[1.0, 0.0, 0.2, 0.5]] * 2)
    c2 = torch.tensor([[0.0, 1.0, -0.4, 1.0]] * 2)
    d = (net(x, cn, c1) - net(x, cn, c2)).abs().mean()
    assert d > 1e-3
    with pytest.raises(ValueError):
        net(x, cn, None)
    unc = UNet1D(UNetConfig(leads=9, length=176, channels=16, num_blocks=1, cond_dim=0)).eval()
    assert unc.cond_mlp is None and not unc.conditional
    _randomise_output(unc)
    torch.testing.assert_close(unc(x, cn, c1), unc(x, cn, None))
    # the noise level reaches the output too
    assert (net(x, cn, c1) - net(x, cn + 1.0, c1)).abs().mean() > 1e-3


def test_rejects_bad_sizes():
    with pytest.raises(ValueError):
        UNetConfig(length=176, channel_mult=[1, 1, 1, 1, 1, 1])  # 176 / 32 is not an integer
    with pytest.raises(ValueError):
        UNetConfig(attn_levels=[1])
    with pytest.raises(ValueError):
        UNet1D(UNetConfig(channels=16, num_blocks=1))(torch.randn(1, 8, 176), torch.zeros(1), torch.zeros(1, 4))
