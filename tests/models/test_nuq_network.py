"""The NUQ Swin autoencoder against the paper (its Swin settings are WITT's / Swin's): two
stages of depths [2, 4], widths [128, 256], window 2, standard Swin blocks (pre-norm,
window attention with a relative-position bias, regular and shifted windows in turn, an
MLP of 4x expansion with GELU), no other block type."""

from __future__ import annotations

import torch
from torch import nn

from semcom.models.nuq import NUQ
from semcom.nn.swin import SwinBlock, SwinStage


def _blocks(model: nn.Module) -> list[SwinBlock]:
    return [m for m in model.modules() if isinstance(m, SwinBlock)]


def test_the_paper_size_has_the_papers_stages_and_standard_swin_blocks() -> None:
    model = NUQ(size="paper")
    enc = model.encoder
    stages = [enc.stage0, enc.stage1, model.decoder.stage1, model.decoder.stage0]
    assert [len(s.blocks) for s in stages] == [2, 4, 4, 2]
    assert all(isinstance(s, SwinStage) for s in stages)
    for stage, width, heads in zip(stages, (128, 256, 256, 128), (4, 8, 8, 4)):
        for i, block in enumerate(stage.blocks):
            assert block.window == 2 and block.shift == (1 if i % 2 else 0)  # regular, then shifted
            assert block.attention.dim == width and block.attention.heads == heads
            assert block.attention.bias_table is not None  # Swin's relative-position bias
            norm, up, act, down = block.mlp
            assert isinstance(norm, nn.LayerNorm) and type(act) is nn.GELU  # GELU, not a LeakyReLU
            assert (up.in_features, up.out_features, down.out_features) == (width, 4 * width, width)
    kinds = {type(m) for m in model.modules()}
    assert not kinds & {nn.LeakyReLU, nn.ReLU, nn.PReLU}  # the only nonlinearity is the MLPs' GELU


def test_a_block_is_pre_norm_attention_then_mlp_with_residuals() -> None:
    torch.manual_seed(0)
    block = SwinBlock(8, 2, 2, shift=0).eval()
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        for p in block.mlp.parameters():
            p.zero_()
        for p in block.attention.proj.parameters():
            p.zero_()
        assert torch.equal(block(x), x)  # both branches are residual additions
