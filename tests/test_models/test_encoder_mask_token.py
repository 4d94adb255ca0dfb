"""MAEViT(mask_token_in_encoder=True): the "encoder w/ [M]" ablation."""
import torch

from ..conftest import tiny_mae_cfg
from .test_mae import batch
from .test_mae import build as build_mae
from .test_mae_vit import build


def test_default_encoder_has_no_mask_token():
    assert not hasattr(build(), 'mask_token')


def test_encoder_runs_on_visible_tokens_and_positioned_mask_tokens():
    model = build(mask_token_in_encoder=True)
    x = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    latent, mask, ids_restore = model(x, noise=noise)
    assert latent.shape == (2, 1 + 16, 32)
    assert (mask.sum(1) == 12).all()

    # The same encoder written out in patch order: removed patches replaced
    # by the mask token plus their own position.
    tokens, _ = model.embed_patches(x)  # [N, L, D]
    positions = model.pos_embed[:, 1:]
    tokens = torch.where(mask.bool()[..., None],
                         model.mask_token + positions, tokens)
    tokens = torch.cat([model.class_token(2), tokens], dim=1)
    for layer in model.layers:
        tokens = layer(tokens)
    expected = model.ln1(tokens)
    restored = torch.gather(latent[:, 1:], 1,
                            ids_restore[..., None].expand(-1, -1, 32))
    torch.testing.assert_close(restored, expected[:, 1:], rtol=1e-5,
                               atol=1e-5)
    torch.testing.assert_close(latent[:, 0], expected[:, 0], rtol=1e-5,
                               atol=1e-5)

    # The removed pixels themselves stay invisible to the encoder.
    pixel_mask = mask.reshape(2, 1, 4, 1, 4, 1).expand(2, 3, 4, 8, 4, 8)
    y = torch.where(pixel_mask.reshape(2, 3, 32, 32).bool(),
                    torch.randn_like(x) * 100, x)
    torch.testing.assert_close(model(y, noise=noise)[0], latent, rtol=0,
                               atol=1e-5)


def test_mae_with_encoder_mask_token_trains_the_token():
    cfg = tiny_mae_cfg()
    cfg['backbone']['mask_token_in_encoder'] = True
    model = build_mae(cfg)
    data = model.data_preprocessor(batch(), training=True)
    model(**data, mode='loss')['loss'].backward()
    assert model.backbone.mask_token.grad.abs().sum() > 0
    # No removed position is left for the decoder's own mask token.
    assert not model.neck.mask_token.grad.any()
