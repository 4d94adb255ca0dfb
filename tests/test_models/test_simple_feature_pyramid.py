import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import LayerNorm2d

from mae_plugin.models import SimpleFeaturePyramid


def test_levels_from_the_last_map():
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=16)
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


def test_subset_of_scales_and_more_outputs():
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=8,
                                scale_factors=(2., 1., 0.5), num_outs=5)
    outs = neck((torch.randn(1, 32, 8, 8), ))
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2, 1]


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_scoped_norm_resolves_from_other_scopes(scope):
    with DefaultScope.overwrite_default_scope(scope):
        from mmengine.registry import MODELS
        neck = MODELS.build(
            dict(type='mae_plugin.SimpleFeaturePyramid', in_channels=32,
                 out_channels=8, norm_cfg=dict(type='mae_plugin.LN2d')))
    assert isinstance(neck.convs[0][0].norm, LayerNorm2d)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(scale_factors=(3., )), ValueError, 'scale_factors'),
    (dict(num_outs=3), ValueError, 'num_outs'),
    (dict(norm_cfg=dict(type='NoSuchNorm')), KeyError, 'NoSuchNorm'),
])
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        SimpleFeaturePyramid(in_channels=32, **kwargs)
