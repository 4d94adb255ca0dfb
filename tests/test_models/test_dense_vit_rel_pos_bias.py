"""DenseViT with BEiT's segmentation blocks (``use_rel_pos_bias``): the
MAE paper's ADE20K backbone, checked against mmseg 1.2.2's ``MAE``."""
import pytest
import torch
from mmseg.models.backbones import MAE as MMSegMAE

from mae_plugin.checkpoint import convert_to_mmseg_mae, load_encoder_weights
from mae_plugin.models import DenseViT
from mae_plugin.registry import build_model
from ..conftest import MMSEG_TINY, TINY_ARCH, tiny_mae_cfg

BEIT = dict(use_rel_pos_bias=True, layer_scale_init_value=1.0)


def build(**kwargs):
    cfg = dict(
        arch=TINY_ARCH,
        img_size=32,
        pretrain_img_size=32,
        patch_size=8,
        **BEIT)
    cfg.update(kwargs)
    model = DenseViT(**cfg)
    model.init_weights()
    return model.eval()


def mmseg_mae(**kwargs):
    """mmseg's MAE backbone of TINY_ARCH's size, as its ADE20K config
    builds ViT-B (LN eps 1e-6, layer scale 1.0)."""
    model = MMSegMAE(
        out_indices=[0, 1], init_values=1.0, **MMSEG_TINY, **kwargs)
    model.eval()  # its `train` returns None
    return model


def test_features_match_mmseg_mae_with_the_same_weights():
    model = build(out_indices=(0, 1), final_norm=True)
    # every parameter random: trained bias tables and layer scales too
    for param in model.parameters():
        torch.nn.init.normal_(param, std=0.2)
    state_dict = {f'backbone.{k}': v for k, v in model.state_dict().items()}
    converted, report = convert_to_mmseg_mae(state_dict)
    assert report.missing == [] and report.unexpected == []
    assert 'layers.1.attn.relative_position_bias_table' in converted
    assert 'layers.0.gamma_2' in converted
    reference = mmseg_mae(final_norm=True)
    reference.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    assert [o.shape for o in ours] == [(2, 32, 4, 4)] * 2
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    # the tables take part: zeroing one changes the features by 10x the
    # tolerance above (by 5.6e-4 or more over 30 seeds)
    model.layers[1].attn.relative_position_bias_table.data.zero_()
    with torch.no_grad():
        assert (model(x)[1] - theirs[1]).abs().max() > 1e-4


def test_pretraining_checkpoint_loads_and_reports_new_tables(tmp_path):
    mae = build_model(tiny_mae_cfg())
    mae.init_weights()
    path = str(tmp_path / 'mae.pth')
    torch.save({'state_dict': mae.state_dict()}, path)
    model = DenseViT(
        arch=TINY_ARCH,
        img_size=32,
        pretrain_img_size=32,
        patch_size=8,
        **BEIT)
    model.init_weights()
    report = load_encoder_weights(
        model, path, optional_keys=model.keys_beyond_encoder())
    # the class token loads now; only the final norm is left out
    assert sorted(report.unexpected) == ['ln1.bias', 'ln1.weight']
    assert 'cls_token' in report.matched
    torch.testing.assert_close(model.cls_token, mae.backbone.cls_token)
    assert sorted(report.missing) == sorted(
        f'layers.{i}.{key}' for i in range(2)
        for key in ('attn.relative_position_bias_table',
                    'attn.relative_position_index', 'gamma_1', 'gamma_2'))
    for layer in model.layers:
        table = layer.attn.relative_position_bias_table
        assert table.shape == ((2 * 4 - 1)**2 + 3, 4) and not table.any()
        assert torch.equal(layer.gamma_1, torch.ones(32))


def test_position_embedding_resized_once_at_load_as_mmseg_mae(tmp_path):
    """With ``pretrain_img_size`` the input size (the segmentation config),
    a checkpoint pretrained at 16x16 (2x2 patches) loads its positions
    resized to the 4x4 grid once, as mmseg's ``MAE`` does at load, and
    the trained parameter is that 4x4 table: not the checkpoint's 2x2 one,
    resized at every forward (ViTDet's way, ``pretrain_img_size=16``)."""
    mae = build_model(tiny_mae_cfg(img_size=16))
    mae.init_weights()
    for param in mae.parameters():  # positions no sin-cos table has
        torch.nn.init.normal_(param, std=0.2)
    ours_path, theirs_path = str(tmp_path / 'mae.pth'), str(
        tmp_path / 'mmseg.pth')
    torch.save({'state_dict': mae.state_dict()}, ours_path)
    torch.save(convert_to_mmseg_mae(mae.state_dict())[0], theirs_path)
    model = build(
        out_indices=(0, 1),
        init_cfg=dict(type='Pretrained', checkpoint=ours_path))
    reference = mmseg_mae(
        init_cfg=dict(type='Pretrained', checkpoint=theirs_path))
    reference.init_weights()
    assert model.pos_embed.shape == reference.pos_embed.shape == (1, 17, 32)
    torch.testing.assert_close(model.pos_embed, reference.pos_embed)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(model(x), reference(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    resized_each_time = build(
        pretrain_img_size=16,
        init_cfg=dict(type='Pretrained', checkpoint=ours_path))
    assert resized_each_time.pos_embed.shape == (1, 5, 32)
    torch.testing.assert_close(resized_each_time.pos_embed,
                               mae.backbone.pos_embed)


def test_drop_path_once_per_branch_rising_linearly():
    model = build(arch=dict(TINY_ARCH, num_layers=3), drop_path_rate=0.4)
    rates = [layer.drop_path.drop_prob for layer in model.layers]
    assert rates == pytest.approx([0., 0.2, 0.4])
    # no second drop path inside the MLP (mmpretrain's BEiT layer has one)
    assert all(
        isinstance(layer.ffn.dropout_layer, torch.nn.Identity)
        for layer in model.layers)


def test_class_token_and_tables_get_the_embedding_and_block_depths():
    model = build()
    assert model.get_layer_depth('backbone.cls_token', 'backbone.') == (0, 4)
    assert model.get_layer_depth(
        'backbone.layers.1.attn.relative_position_bias_table',
        'backbone.') == (2, 4)


def test_input_of_another_grid_raises_naming_img_size():
    with pytest.raises(ValueError, match='img_size'):
        build()(torch.randn(1, 3, 48, 32))


@pytest.mark.parametrize('kwargs,match', [
    (dict(window_size=2), 'window_size=2'),
    (dict(use_rel_pos=True), 'use_rel_pos=True'),
    (dict(use_rel_pos_bias=False), 'layer_scale_init_value'),
    (dict(layer_scale_init_value=-1.), 'layer_scale_init_value'),
])
def test_options_that_do_not_combine_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)
