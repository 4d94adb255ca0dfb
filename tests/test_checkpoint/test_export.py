"""A plugin checkpoint read by mmpretrain's VisionTransformer, and the
files `convert_checkpoint` (the converter tool's function) writes read by
mmseg's VisionTransformer and MAE backbones, Hugging Face's ViTMAEModel,
mmpretrain's ViT (timm layout, converted back) and a ViTDet-format reader:
each under the entry the README names, compared by forward pass where the
reader runs."""
import pytest
import torch
from mmengine.runner import CheckpointLoader
from mmpretrain.models import VisionTransformer
from mmseg.models.backbones import MAE as MMSegMAE
from mmseg.models.backbones import VisionTransformer as MMSegViT
from torch import nn
from safetensors import safe_open
from transformers import ViTMAEForPreTraining, ViTMAEModel

from mae_plugin.checkpoint import (FORMATS, convert_checkpoint,
                                   convert_official_mae, convert_to_vitdet,
                                   mae_config_from_hf)
from mae_plugin.checkpoint.converters.mmseg import MMSEG_MAE_KWARGS
from ..conftest import MMSEG_TINY, TINY_ARCH, tiny_mae_cfg
from .helpers import build_plugin, hf_config, randomize

TOL = dict(rtol=0, atol=1e-5)
MMSEG_ARCH = dict(MMSEG_TINY, final_norm=True)

#: The entry of the saved file that holds each output's state dict, as the
#: README says (None: the bare state dict).
ENTRIES = {
    'plugin': 'state_dict',
    'official': 'model',
    'timm': 'model',
    'vitdet': 'model',
    'hf': None,
    'hf-model': None,
    'mmpretrain': 'state_dict',
    'mmseg-vit': 'state_dict',
    'mmseg-mae': 'state_dict',
}


def plugin_mae(cfg=None):
    model = build_plugin(cfg or tiny_mae_cfg())
    model.init_weights()
    randomize(model)
    return model


def export(plugin, dst_format, folder, name='converted.pth'):
    """Save ``plugin`` as a training checkpoint, convert the file to
    ``dst_format`` and return the output's path and state dict (checking
    the entry it is saved under) and the conversion reports."""
    src = str(folder / 'epoch_1.pth')
    torch.save({'state_dict': plugin.state_dict(), 'meta': {}}, src)
    dst = str(folder / name)
    reports = convert_checkpoint(src, dst, 'plugin', dst_format)
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    entry = ENTRIES[dst_format]
    if entry is None:
        assert all(isinstance(v, torch.Tensor) for v in saved.values())
    else:
        assert list(saved) == [entry]
        saved = saved[entry]
    return dst, saved, reports


@pytest.mark.parametrize('dst_format', FORMATS)
def test_each_format_is_saved_under_its_entry(dst_format, tmp_path):
    plugin = plugin_mae()
    _, saved, _ = export(plugin, dst_format, tmp_path)
    assert len(saved) > 20


def backbone_keys(model):
    return [k for k in model.state_dict() if k.startswith('backbone.')]


def count_loaded(module, exported):
    """Keys of ``module`` now holding exactly the exported tensor."""
    return sum(
        torch.equal(v, exported[k]) for k, v in module.state_dict().items()
        if k in exported)


def featmap(plugin, x):
    """The plugin encoder's last-layer patch tokens as ``[N, D, h, w]``."""
    tokens = plugin.backbone(x, mask=False)[0][:, 1:]  # [N, L, D]
    return tokens.transpose(1, 2).reshape(x.shape[0], -1, 4, 4)


def test_plugin_checkpoint_loads_into_mmpretrain_vit(tmp_path):
    plugin = plugin_mae()
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': plugin.state_dict(), 'meta': {}}, path)
    vit = VisionTransformer(
        arch=TINY_ARCH,
        img_size=32,
        patch_size=8,
        out_type='cls_token',
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    vit.init_weights()
    exported = {
        k[len('backbone.'):]: v
        for k, v in plugin.state_dict().items() if k.startswith('backbone.')
    }
    assert count_loaded(vit, exported) == len(vit.state_dict()) == len(
        backbone_keys(plugin)) == 4 + 2 * 12 + 2
    vit.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(
        vit(x)[0],
        plugin.backbone(x, mask=False)[0][:, 0], **TOL)


def test_mmseg_vit_reads_the_export(tmp_path):
    plugin = plugin_mae()
    path, exported, (report, ) = export(plugin, 'mmseg-vit', tmp_path)
    assert report.missing == [] and report.unexpected == []
    decoder = len(plugin.state_dict()) - len(backbone_keys(plugin))
    assert report.dropped == [
        f'decoder ({decoder} keys neck.mask_token*, neck.decoder_*), not '
        'part of the mmseg VisionTransformer layout'
    ]
    seg = MMSegViT(
        patch_bias=True,
        init_cfg=dict(type='Pretrained', checkpoint=path),
        **MMSEG_ARCH)
    seg.init_weights()
    assert 'layers.0.attn.attn.in_proj_weight' in exported
    assert count_loaded(seg, exported) == len(
        seg.state_dict()) == len(exported) == 30
    seg.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(seg(x)[0], featmap(plugin, x), **TOL)


def test_mmseg_mae_reads_the_export(tmp_path):
    """Built as the report's note says (:data:`MMSEG_MAE_KWARGS`), mmseg's
    ``MAE`` computes the plugin's encoder. The note said
    ``MAE(norm_cfg=dict(type='LN', eps=1e-6))``: mmseg's default
    ``init_values=0.1`` scaled each block's residual branches by 0.1 (the
    features 2.0 apart)."""
    plugin = plugin_mae()
    path, exported, (report, ) = export(plugin, 'mmseg-mae', tmp_path)
    assert report.missing == []
    assert any(note.startswith('MAE(init_values=1.0, ')
               for note in report.notes)
    seg = MMSegMAE(
        init_cfg=dict(type='Pretrained', checkpoint=path),
        **dict(MMSEG_ARCH, **MMSEG_MAE_KWARGS))
    seg.init_weights()
    matched = count_loaded(seg, exported)
    assert matched == len(exported) == 30
    # Not in MAE weights: layer scales and relative position tables.
    not_loaded = sorted(
        k.split('.')[-1] for k in seg.state_dict() if k not in exported)
    assert not_loaded == sorted([
        'gamma_1', 'gamma_2', 'relative_position_bias_table',
        'relative_position_index'
    ] * 2)
    # With the note's unit layer scales (and the zero relative positions
    # of MAE) it computes the plugin's encoder.
    seg.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(seg(x)[0], featmap(plugin, x), **TOL)


class ViTDetReader(nn.Module):
    """The parameter names and shapes of mmdet's ViTDet ``ViT`` backbone
    (projects/ViTDet/vitdet/vit.py: ``patch_embed.proj``, ``pos_embed``
    with the pretraining class row, ``blocks.{i}`` with ``norm1``,
    ``attn.qkv``, ``attn.proj``, ``attn.rel_pos_h/w``, ``norm2``,
    ``mlp.fc1``, ``mlp.fc2``), loaded the way its ``init_weights`` does."""

    def __init__(self,
                 dims=32,
                 depth=2,
                 heads=4,
                 hidden=64,
                 patch=8,
                 pretrain_grid=4,
                 window=2):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dims, patch, patch)
        self.pos_embed = nn.Parameter(
            torch.zeros(1, 1 + pretrain_grid**2, dims))
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            block = nn.Module()
            block.norm1, block.norm2 = nn.LayerNorm(dims), nn.LayerNorm(dims)
            block.attn = nn.Module()
            block.attn.qkv = nn.Linear(dims, 3 * dims)
            block.attn.proj = nn.Linear(dims, dims)
            block.attn.rel_pos_h = nn.Parameter(
                torch.zeros(2 * window - 1, dims // heads))
            block.attn.rel_pos_w = nn.Parameter(
                torch.zeros(2 * window - 1, dims // heads))
            block.mlp = nn.Module()
            block.mlp.fc1 = nn.Linear(dims, hidden)
            block.mlp.fc2 = nn.Linear(hidden, dims)
            self.blocks.append(block)

    def load(self, path):
        checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
        return self.load_state_dict(checkpoint['model'], strict=False)


def test_vitdet_reader_reads_the_export(tmp_path):
    plugin = plugin_mae()
    path, exported, (report, ) = export(plugin, 'vitdet', tmp_path)
    # class token and final norm are not part of ViTDet's backbone: each
    # is reported once, as dropped, and nothing is unexpected
    assert report.unexpected == []
    assert [line.split(' (')[0] for line in report.dropped
            ] == ['decoder', 'class token', 'final norm']
    assert 'class token (1 key backbone.cls_token*)' in report.dropped[1]
    assert any('patch_size=8, pretrain_img_size=32' in n for n in report.notes)
    reader = ViTDetReader()
    result = reader.load(path)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == sorted(f'blocks.{i}.attn.rel_pos_{a}'
                                                 for i in range(2)
                                                 for a in 'hw')
    assert count_loaded(reader, exported) == len(exported) == 2 + 1 + 2 * 12
    assert count_loaded(reader, exported) == len(reader.state_dict()) - 4


def test_timm_layout_is_the_official_encoder_and_round_trips(tmp_path):
    plugin = plugin_mae()
    _, exported, (report, ) = export(plugin, 'timm', tmp_path)
    assert {
        'cls_token', 'pos_embed', 'patch_embed.proj.weight',
        'blocks.1.mlp.fc2.bias', 'norm.weight'
    } <= set(exported)
    decoder = [k for k in plugin.state_dict() if k.startswith('neck.')]
    assert report.unexpected == []
    assert report.dropped == [
        f'decoder ({len(decoder)} keys neck.mask_token*, neck.decoder_*), '
        'not part of the timm ViT layout'
    ]
    back, report = convert_official_mae(exported)
    assert report.missing == [] and report.unexpected == []
    assert set(back) == set(backbone_keys(plugin))
    assert all(torch.equal(v, plugin.state_dict()[k]) for k, v in back.items())
    # read back by mmpretrain's ViT, it computes the plugin's encoder
    path = str(tmp_path / 'back.pth')
    torch.save({'state_dict': back}, path)
    vit = VisionTransformer(
        arch=TINY_ARCH,
        img_size=32,
        patch_size=8,
        out_type='raw',
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    vit.init_weights()
    vit.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(
        vit(x)[0],
        plugin.backbone(x, mask=False)[0], **TOL)


def test_hugging_face_vitmae_model_reads_the_export(tmp_path):
    """`hf-model`: a bare ``ViTMAEModel`` state dict, which
    ``from_pretrained`` reads from a folder with the model's config; with
    the same masking noise it encodes as the plugin's encoder."""
    config = hf_config('w32')
    plugin = plugin_mae(mae_config_from_hf(config))
    folder = tmp_path / 'hf'
    folder.mkdir()
    config.save_pretrained(str(folder))
    export(plugin, 'hf-model', folder, name='pytorch_model.bin')
    hf = ViTMAEModel.from_pretrained(str(folder)).eval()
    x, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    latent, mask, _ = plugin.backbone(x, noise=noise)
    out = hf(pixel_values=x, noise=noise)
    torch.testing.assert_close(out.last_hidden_state, latent, **TOL)
    assert torch.equal(out.mask, mask)


def test_hugging_face_reads_the_safetensors_export(tmp_path):
    """`hf` to ``model.safetensors``: the metadata of Hugging Face's own
    files, so ``ViTMAEForPreTraining.from_pretrained`` reads the folder
    (with the config's ``config.json``) and computes the plugin's loss and
    predictions for the same noise."""
    config = hf_config('w32')
    plugin = plugin_mae(mae_config_from_hf(config))
    src = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': plugin.state_dict()}, src)
    folder = tmp_path / 'hf'
    convert_checkpoint(src, str(folder / 'model.safetensors'), 'plugin',
                       'hf')
    with safe_open(str(folder / 'model.safetensors'), 'pt') as f:
        assert f.metadata() == {'format': 'pt'}
    config.save_pretrained(str(folder))
    hf = ViTMAEForPreTraining.from_pretrained(str(folder)).eval()
    x, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        out = hf(pixel_values=x, noise=noise)
        pred, mask = plugin.reconstruct(x, noise=noise)
        loss = plugin.head.loss(pred, x, mask)['loss']
    torch.testing.assert_close(out.logits, pred, **TOL)
    torch.testing.assert_close(out.loss, loss, **TOL)
    assert torch.equal(out.mask, mask)


def test_vitdet_needs_a_square_pretraining_grid():
    plugin = build_plugin(tiny_mae_cfg(img_size=(32, 48)))
    with pytest.raises(ValueError, match='square'):
        convert_to_vitdet(plugin.state_dict())
