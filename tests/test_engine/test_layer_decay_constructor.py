import pytest
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

from mae_plugin.models import DenseViT, SimpleFeaturePyramid
from ..conftest import TINY_ARCH


class Detector(nn.Module):
    """The part of a detector/segmentor the constructor sees: a backbone
    with ``get_layer_depth`` and modules after it."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.neck = SimpleFeaturePyramid(
            in_channels=32, patch_size=16, out_channels=8)


def optim_cfg(rate=0.7):
    return dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.1),
        constructor='mae_plugin.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(
            layer_decay_rate=rate,
            norm_decay_mult=0.,
            custom_keys={'pos_embed': dict(decay_mult=0.)}))


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_lr_decays_by_depth_from_detector_and_segmentor_scopes(scope):
    model = Detector(DenseViT(arch=TINY_ARCH, patch_size=8))  # 2 blocks
    with DefaultScope.overwrite_default_scope(scope):
        optim_wrapper = build_optim_wrapper(model, optim_cfg(0.7))
    groups = {g['param_name']: g for g in optim_wrapper.optimizer.param_groups}
    lr = {name: g['lr'] for name, g in groups.items()}
    assert lr['backbone.pos_embed'] == pytest.approx(1e-4 * 0.7**3)
    assert lr['backbone.patch_embed.projection.weight'] == pytest.approx(
        1e-4 * 0.7**3)
    assert lr['backbone.layers.0.attn.qkv.weight'] == pytest.approx(
        1e-4 * 0.7**2)
    assert lr['backbone.layers.1.ffn.layers.1.weight'] == pytest.approx(
        1e-4 * 0.7)
    assert lr['neck.convs.0.0.conv.weight'] == pytest.approx(1e-4)
    assert len(groups) == len(list(model.parameters()))
    decay = {name: g['weight_decay'] for name, g in groups.items()}
    assert decay['backbone.pos_embed'] == 0
    assert decay['backbone.layers.0.ln1.weight'] == 0
    assert decay['neck.convs.0.0.ln.weight'] == 0  # LN2d is a LayerNorm
    assert decay['backbone.layers.0.attn.qkv.weight'] == 0.1


def test_model_without_layer_depths_raises():
    model = Detector(nn.Linear(2, 2))
    with pytest.raises(TypeError, match='get_layer_depth'):
        build_optim_wrapper(model, optim_cfg())


@pytest.mark.parametrize('optimizer', [
    dict(type='AdamW', lr=1e-4),
    dict(type='SGD', lr=0.1, momentum=0.9),
])
def test_optimizer_without_weight_decay_is_refused_by_name(optimizer):
    # layer decay alone failed in mmpretrain's constructor with a bare
    # KeyError: 'weight_decay'; with decay multipliers in mmengine's, with
    # 'base_wd should not be None'
    model = Detector(DenseViT(arch=TINY_ARCH, patch_size=8))
    cfg = dict(optim_cfg(), optimizer=optimizer)
    with pytest.raises(ValueError, match=r'needs optimizer\.weight_decay'):
        build_optim_wrapper(model, cfg)
    cfg['paramwise_cfg'] = dict(layer_decay_rate=0.7)
    with pytest.raises(ValueError, match=r'needs optimizer\.weight_decay'):
        build_optim_wrapper(model, cfg)
    cfg['optimizer'] = dict(optimizer, weight_decay=0.)
    groups = build_optim_wrapper(model, cfg).optimizer.param_groups
    assert {g['weight_decay'] for g in groups} == {0.}
    assert max(g['lr'] for g in groups) == optimizer['lr']
