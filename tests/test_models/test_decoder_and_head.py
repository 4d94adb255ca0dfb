import pytest
import torch

from mae_plugin.models import MAEDecoder, MAEPixelHead
from mae_plugin.models.utils import patchify, sincos_2d


def decoder(**kwargs):
    cfg = dict(in_channels=32, embed_dims=16, num_layers=1, num_heads=2,
               img_size=32, patch_size=8)
    cfg.update(kwargs)
    model = MAEDecoder(**cfg)
    model.init_weights()
    model.eval()
    return model


def test_decoder_restores_order_and_predicts_every_patch():
    dec = decoder()
    assert torch.equal(dec.decoder_pos_embed.data, sincos_2d((4, 4), 16))
    latent = torch.randn(2, 1 + 4, 32)
    noise = torch.rand(2, 16)
    ids_shuffle = noise.argsort(1)
    ids_restore = ids_shuffle.argsort(1)
    pred = dec(latent, ids_restore)
    assert pred.shape == (2, 16, 8 * 8 * 3)
    # Permuting which visible token is which moves its prediction along:
    # the decoder input is in patch order, fixed by ids_restore.
    perm = torch.tensor([1, 0, 2, 3])
    latent_p = torch.cat([latent[:, :1], latent[:, 1:][:, perm]], 1)
    ids_shuffle_p = torch.cat([ids_shuffle[:, :4][:, perm],
                               ids_shuffle[:, 4:]], 1)
    pred_p = dec(latent_p, ids_shuffle_p.argsort(1))
    torch.testing.assert_close(pred, pred_p)


@pytest.mark.parametrize('grid', [(4, 4), (2, 8)])
def test_decoder_is_the_papers_forward_decoder(grid):
    """The MAE code's ``forward_decoder``, written out on the decoder's own
    layers: mask tokens appended after the visible tokens (class token
    left out), un-shuffled with ids_restore, the sin-cos positions of the
    grid added (of the training grid, 4x4, or of another one, 2 rows of
    8), blocks, norm, prediction, class token's output dropped."""
    dec = decoder()
    with torch.no_grad():
        dec.decoder_norm.weight.uniform_(0.5, 1.5)  # not an identity
        dec.decoder_norm.bias.uniform_(-1, 1)
    latent = torch.randn(2, 1 + 4, 32)
    ids_restore = torch.rand(2, 16).argsort(1).argsort(1)
    x = dec.decoder_embed(latent)
    mask_tokens = dec.mask_token.repeat(2, 16 + 1 - x.shape[1], 1)
    x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
    x_ = torch.gather(x_, dim=1,
                      index=ids_restore.unsqueeze(-1).repeat(1, 1, 16))
    x = torch.cat([x[:, :1, :], x_], dim=1)
    x = x + sincos_2d(grid, 16)
    for blk in dec.decoder_blocks:
        x = blk(x)
    x = dec.decoder_norm(x)
    expected = dec.decoder_pred(x)[:, 1:, :]
    torch.testing.assert_close(dec(latent, ids_restore, grid), expected)


def test_decoder_rejects_mismatched_inputs():
    dec = decoder()
    with pytest.raises(ValueError, match='in_channels 32'):
        dec(torch.randn(1, 5, 24), torch.arange(16)[None])
    with pytest.raises(ValueError, match='ids_restore has 15 patches'):
        dec(torch.randn(1, 5, 32), torch.arange(15)[None])
    with pytest.raises(ValueError, match='latent has 18 tokens'):
        dec(torch.randn(1, 18, 32), torch.arange(16)[None])


def test_loss_counts_masked_patches_only():
    head = MAEPixelHead(patch_size=8, norm_pix=False)
    imgs = torch.randn(2, 3, 32, 32)
    target = patchify(imgs, 8)
    mask = torch.zeros(2, 16)
    mask[:, :6] = 1
    pred = target.clone()
    pred[:, :6] += 1.0  # error of 1 on every removed patch
    assert head.loss(pred, imgs, mask)['loss'].item() == pytest.approx(1.0)
    pred[:, 6:] += 5.0  # visible patches do not count
    assert head.loss(pred, imgs, mask)['loss'].item() == pytest.approx(1.0)
    all_patches = MAEPixelHead(patch_size=8, norm_pix=False,
                               loss_on_visible=True)
    expected = (6 * 1 + 10 * 25) / 16
    assert all_patches.loss(pred, imgs, mask)['loss'].item() == \
        pytest.approx(expected, rel=1e-5)


def test_norm_pix_target_formula():
    head = MAEPixelHead(patch_size=4, norm_pix=True)
    imgs = torch.rand(1, 2, 8, 8) * 10
    target = head.construct_target(imgs)
    patch = imgs[0, :, 4:8, 0:4].permute(1, 2, 0).flatten()  # patch 2
    n = patch.numel()
    mean = patch.sum() / n
    var = ((patch - mean)**2).sum() / (n - 1)  # unbiased
    torch.testing.assert_close(target[0, 2], (patch - mean) / (var + 1e-6)**.5)
    # reconstruct() maps a perfect norm-pix prediction back to the image
    torch.testing.assert_close(head.reconstruct(target, imgs), imgs)


def test_head_rejects_prediction_of_wrong_size():
    head = MAEPixelHead(patch_size=8)
    with pytest.raises(ValueError, match='patch_size 8'):
        head.loss(torch.randn(1, 16, 100), torch.randn(1, 3, 32, 32),
                  torch.ones(1, 16))


@pytest.mark.parametrize('mask_shape', [(16, ), (2, 1), (1, 16)])
def test_head_rejects_a_mask_that_would_broadcast(mask_shape):
    head = MAEPixelHead(patch_size=8)
    with pytest.raises(ValueError, match=r'mask .* must be \[N, L\]'):
        head.loss(torch.randn(2, 16, 192), torch.randn(2, 3, 32, 32),
                  torch.ones(mask_shape))


def test_norm_pix_refuses_patches_of_one_value():
    # the unbiased variance of one value is NaN
    head = MAEPixelHead(patch_size=1)
    with pytest.raises(ValueError, match='norm_pix needs patches of at '
                       'least 2 values'):
        head.loss(torch.randn(1, 4, 1), torch.randn(1, 1, 2, 2),
                  torch.ones(1, 4))


def test_loss_on_visible_averages_over_all_patches():
    imgs = torch.randn(2, 3, 32, 32)
    pred = torch.randn(2, 16, 8 * 8 * 3)
    nothing_removed = torch.zeros(2, 16)
    head = MAEPixelHead(patch_size=8, norm_pix=False, loss_on_visible=True)
    expected = (pred - patchify(imgs, 8)).pow(2).mean()
    torch.testing.assert_close(
        head.loss(pred, imgs, nothing_removed)['loss'], expected)


def test_norm_pix_eps_is_1e_6_on_a_nearly_flat_patch():
    """The default ``eps`` is the MAE code's (and mmpretrain's) 1e-6.
    Only a patch whose variance is of the order of eps shows it: here
    about 1e-6, where eps 1e-5 would shrink the target by
    sqrt(2e-6 / 1.1e-5) = 0.43."""
    from tests.test_checkpoint.helpers import build_mmpretrain
    generator = torch.Generator().manual_seed(0)
    # [1, 3, 16, 16]: four nearly flat 8x8 patches at grey level 0.3
    imgs = 0.3 + 1e-3 * torch.randn(1, 3, 16, 16, generator=generator)
    patches = patchify(imgs.double(), 8)  # [1, 4, 192]
    var = patches.var(dim=-1, keepdim=True)  # unbiased
    assert 0.5e-6 < var.min() and var.max() < 2e-6
    expected = (patches - patches.mean(dim=-1, keepdim=True)) / (var +
                                                                 1e-6).sqrt()
    target = MAEPixelHead(patch_size=8).construct_target(imgs)
    # float32 rounding of values near 0.3 (2e-8) over a spread of 1e-3
    # errs by less than 1e-4; eps 1e-5 moves the target by up to 1
    torch.testing.assert_close(target.double(), expected, rtol=0,
                               atol=1e-3)
    mmpretrain_head = build_mmpretrain(
        dict(type='MAEPretrainHead', patch_size=8, norm_pix=True,
             loss=dict(type='PixelReconstructionLoss', criterion='L2')))
    torch.testing.assert_close(target,
                               mmpretrain_head.construct_target(imgs),
                               rtol=0, atol=1e-3)
