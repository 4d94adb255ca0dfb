"""Parity with mmpretrain's own MAE: same weights and mask give the same
loss and predictions; the state dict round-trips."""
import pytest
import torch
from mmpretrain.models.utils import build_2d_sincos_position_embedding

from mae_plugin.checkpoint import (convert_mmpretrain_mae,
                                   convert_to_mmpretrain_mae, load_weights)
from mae_plugin.models.utils import sincos_2d
from ..conftest import TINY_ARCH, tiny_mae_cfg
from .helpers import build_mmpretrain, build_plugin, randomize


def mmpretrain_mae(norm_pix, img_size=32):
    """mmpretrain's MAE with the architecture of ``tiny_mae_cfg``."""
    model = build_mmpretrain(
        dict(
            type='MAE',
            backbone=dict(
                type='MAEViT',
                arch=TINY_ARCH,
                img_size=img_size,
                patch_size=8,
                mask_ratio=0.75),
            neck=dict(
                type='MAEPretrainDecoder',
                num_patches=(img_size // 8)**2,
                patch_size=8,
                in_chans=3,
                embed_dim=32,
                decoder_embed_dim=16,
                decoder_depth=1,
                decoder_num_heads=2),
            head=dict(
                type='MAEPretrainHead',
                norm_pix=norm_pix,
                patch_size=8,
                loss=dict(type='PixelReconstructionLoss', criterion='L2'))))
    model.init_weights()
    randomize(model)
    return model.eval()


@pytest.mark.parametrize('norm_pix', [True, False])
def test_same_weights_and_mask_give_the_same_loss_predictions_and_grads(
        norm_pix):
    reference = mmpretrain_mae(norm_pix)
    state_dict, report = convert_mmpretrain_mae(reference.state_dict())
    assert report.missing == [] and report.unexpected == []
    plugin = build_plugin(tiny_mae_cfg(norm_pix=norm_pix))
    loaded = load_weights(plugin, state_dict, strict=True)
    assert len(loaded.matched) == len(plugin.state_dict()) == len(
        reference.state_dict())

    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(7)  # mmpretrain draws its noise from the global RNG
    latent_ref, mask_ref, ids_restore = reference.backbone(x)
    pred_ref = reference.neck(latent_ref, ids_restore)
    loss_ref = reference.head.loss(pred_ref, x, mask_ref)
    noise = torch.rand(2, 16, generator=torch.Generator().manual_seed(7))
    pred, mask = plugin.reconstruct(x, noise=noise)
    loss = plugin.head.loss(pred, x, mask)['loss']

    assert torch.equal(mask, mask_ref) and mask.sum() == 2 * 12
    torch.testing.assert_close(pred, pred_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(loss, loss_ref, rtol=0, atol=1e-5)

    loss.backward()
    loss_ref.backward()
    grads, _ = convert_mmpretrain_mae({
        k: p.grad
        for k, p in reference.named_parameters() if p.grad is not None
    })
    plugin_grads = {
        k: p.grad
        for k, p in plugin.named_parameters() if p.grad is not None
    }
    assert set(grads) == set(plugin_grads)
    assert len(grads) == len(plugin.state_dict()) - 2  # fixed positions
    for key, grad in plugin_grads.items():
        torch.testing.assert_close(
            grad, grads[key], rtol=0, atol=1e-5, msg=key)


def test_position_embeddings_are_copied_as_stored():
    reference = mmpretrain_mae(True)
    transposed = build_2d_sincos_position_embedding(4, 32, cls_token=True)
    assert torch.equal(reference.backbone.pos_embed, transposed)
    assert not torch.equal(transposed, sincos_2d((4, 4), 32))
    state_dict, report = convert_mmpretrain_mae(reference.state_dict())
    plugin = build_plugin(tiny_mae_cfg())
    load_weights(plugin, state_dict)
    # mmpretrain's (row-first) values, not the plugin's column-first ones
    assert torch.equal(plugin.backbone.pos_embed, transposed)
    assert any('copied as stored' in note for note in report.notes)


@pytest.mark.parametrize('grid', [(4, 4), (3, 5), (5, 3)])
def test_the_transposed_sincos_layout_is_mmpretrains(grid):
    torch.testing.assert_close(
        sincos_2d(grid, 32, transposed=True),
        build_2d_sincos_position_embedding(grid, 32, cls_token=True),
        rtol=0, atol=1e-5)  # mmpretrain's float32 angles


def test_mmpretrain_weights_keep_their_sincos_layout_on_other_grids():
    """mmpretrain's MAE at 48 px and the converted weights of its 32 px
    twin give the same loss on 48 px images, whether the plugin's model is
    built for 48 px (positions fitted when loading) or for 32 px (positions
    made at the input's grid). The plugin made its own layout there: loss
    1.4059 instead of 1.4126 in a reviewer's run."""
    reference = mmpretrain_mae(True)
    large = mmpretrain_mae(True, img_size=48)
    own_positions = ('backbone.pos_embed', 'neck.decoder_pos_embed')
    large.load_state_dict({
        key: value if key not in own_positions else large.state_dict()[key]
        for key, value in reference.state_dict().items()
    })
    x = torch.randn(2, 3, 48, 48)
    torch.manual_seed(7)  # mmpretrain draws its noise from the global RNG
    latent, mask_ref, ids_restore = large.backbone(x)
    loss_ref = large.head.loss(large.neck(latent, ids_restore), x, mask_ref)
    noise = torch.rand(2, 36, generator=torch.Generator().manual_seed(7))
    state_dict, _ = convert_mmpretrain_mae(reference.state_dict())
    for img_size in (48, 32):
        plugin = build_plugin(tiny_mae_cfg(img_size=img_size))
        load_weights(plugin, state_dict, strict=True)
        pred, mask = plugin.reconstruct(x, noise=noise)
        assert torch.equal(mask, mask_ref)
        torch.testing.assert_close(
            plugin.head.loss(pred, x, mask)['loss'], loss_ref, rtol=0,
            atol=1e-5, msg=f'model of {img_size} px')
    plugin.init_weights()  # its own positions again, on every grid
    assert torch.equal(plugin.backbone.position_embedding((6, 6)),
                       sincos_2d((6, 6), 32))


def test_round_trip_is_exact():
    original = mmpretrain_mae(True).state_dict()
    plugin_sd, report = convert_mmpretrain_mae(original)
    assert 'neck.decoder_norm.weight' in plugin_sd
    assert report.parts == ['encoder (depth 2)', 'decoder (depth 1)']
    back, report = convert_to_mmpretrain_mae(plugin_sd)
    assert report.missing == [] and report.unexpected == []
    assert set(back) == set(original)
    assert all(torch.equal(back[k], v) for k, v in original.items())
