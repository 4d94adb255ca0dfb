import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import LayerNorm2d

from mae_plugin.models import SimpleFeaturePyramid


def test_levels_from_the_last_map():
    neck = SimpleFeaturePyramid(
        in_channels=32, patch_size=16, out_channels=16)
    a, b = torch.randn(2, 32, 4, 6), torch.randn(2, 32, 4, 6)
    outs = neck((a, b))
    # scales 4, 2, 1, 0.5 of the last map, then one pooled extra level
    assert [o.shape[2:] for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3),
                                          (1, 2)]
    assert all(o.shape[:2] == (2, 16) for o in outs)
    # only the last input is used: (a, b) gives what b alone gives, and
    # not what a alone gives, at every level
    for out, only_b, only_a in zip(outs, neck((b, )), neck((a, ))):
        torch.testing.assert_close(out, only_b, rtol=0, atol=0)
        assert not torch.allclose(out, only_a, atol=1e-3)
    # the 4x path halves the channels twice with a norm in between
    rescale = neck.rescales[0]
    assert [m.out_channels for m in (rescale[0], rescale[3])] == [16, 8]
    assert isinstance(rescale[1], LayerNorm2d)
    # the extra level is a stride-2 subsampling of the coarsest one
    torch.testing.assert_close(outs[4], outs[3][..., ::2, ::2])


@pytest.mark.parametrize('patch_size,scales', [(16, [4., 2., 1., .5]),
                                               (8, [2., 1., .5]),
                                               (4, [1., .5])])
def test_the_strides_asked_for_from_any_patch_size(patch_size, scales):
    # RetinaNet's and the RPN's anchors: strides 8-128 and 4-64
    for strides in ((8, 16, 32, 64, 128), (4, 8, 16, 32, 64)):
        neck = SimpleFeaturePyramid(
            in_channels=32, out_channels=8, patch_size=patch_size,
            strides=strides)
        image = 256
        grid = image // patch_size
        outs = neck((torch.randn(1, 32, grid, grid), ))
        assert [image // o.shape[-1] for o in outs] == list(strides)
    # the default strides are ViTDet's; the scales follow from the patch
    neck = SimpleFeaturePyramid(in_channels=32, patch_size=patch_size)
    assert neck.strides == (4, 8, 16, 32, 64)
    assert len(neck.rescales) == len(scales)
    SimpleFeaturePyramid(in_channels=32, patch_size=patch_size,
                         scale_factors=scales)


def test_scale_factors_that_miss_the_strides_are_refused():
    # ViTDet's scales with patch 8 give strides 2-16: not RetinaNet's 8-128
    with pytest.raises(ValueError) as error:
        SimpleFeaturePyramid(in_channels=32, patch_size=8,
                             scale_factors=(4., 2., 1., .5),
                             strides=(8, 16, 32, 64, 128))
    assert str(error.value) == (
        'scale_factors (4.0, 2.0, 1.0, 0.5) give strides (2.0, 4.0, 8.0, '
        '16.0) with patch_size 8; strides (8, 16, 32, 64, 128) need '
        'scale_factors (1.0, 0.5)')


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_scoped_norm_resolves_from_other_scopes(scope):
    with DefaultScope.overwrite_default_scope(scope):
        from mmengine.registry import MODELS
        neck = MODELS.build(
            dict(type='mae_plugin.SimpleFeaturePyramid', in_channels=32,
                 patch_size=16, out_channels=8,
                 norm_cfg=dict(type='mae_plugin.LN2d')))
    assert isinstance(neck.convs[0][0].norm, LayerNorm2d)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(strides=(2, 4, 8)), ValueError, 'stride 2 is neither'),
    (dict(strides=(4, 8, 16, 32, 48)), ValueError, 'stride 48 is neither'),
    (dict(strides=(8, 4)), ValueError, 'strides must increase'),
    (dict(norm_cfg=dict(type='NoSuchNorm')), KeyError, 'NoSuchNorm'),
    (dict(patch_size=0), ValueError, 'patch_size'),
    (dict(out_channels=0), ValueError, 'out_channels must be an int >= 1'),
    (dict(in_channels=30), ValueError,
     'in_channels must be a multiple of 4 for the 4x level'),
])
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        SimpleFeaturePyramid(**{'in_channels': 32, 'patch_size': 16,
                                **kwargs})


def test_the_patch_size_must_be_given():
    # a default would build ViTDet's patch-16 scales for any backbone
    with pytest.raises(TypeError, match='patch_size'):
        SimpleFeaturePyramid(in_channels=32)
