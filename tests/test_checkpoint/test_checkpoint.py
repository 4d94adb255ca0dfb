"""Loading converted weights: position embeddings fitted to another image
size or patch grid, every key reported, safe file reading."""
import pickle
import re

import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import load_checkpoint
from mmpretrain.models import VisionTransformer

from mae_plugin.checkpoint import (load_prefixed_state_dict,
                                   load_state_dict_file, load_weights,
                                   read_checkpoint_file)
from mae_plugin.models.utils import sincos_2d
from ..conftest import TINY_ARCH, tiny_mae_cfg
from .helpers import build_plugin, randomize


def plugin_mae(img_size):
    cfg = tiny_mae_cfg(img_size=img_size, patch_size=16)
    model = build_plugin(cfg)
    model.init_weights()
    return model


def pretrained_224():
    model = plugin_mae(224)
    randomize(model)
    return model.state_dict()


@pytest.mark.parametrize('img_size,grid', [(384, (24, 24)),
                                           ((256, 320), (16, 20))])
def test_fixed_sincos_embeddings_are_regenerated_for_another_grid(
        img_size, grid):
    source = pretrained_224()
    model = plugin_mae(img_size)
    report = load_weights(model, source, strict=True)
    assert report.resized == [
        f'backbone.pos_embed: regenerated sin-cos (14, 14) -> {grid}',
        f'neck.decoder_pos_embed: regenerated sin-cos (14, 14) -> {grid}'
    ]
    assert len(report.matched) == len(source)
    assert torch.equal(model.backbone.pos_embed, sincos_2d(grid, 32))
    assert torch.equal(model.neck.decoder_pos_embed, sincos_2d(grid, 16))
    assert torch.equal(model.backbone.layers[1].attn.qkv.weight,
                       source['backbone.layers.1.attn.qkv.weight'])
    h, w = img_size if isinstance(img_size, tuple) else (img_size, ) * 2
    x = torch.randn(1, 3, h, w)
    pred, mask = model.reconstruct(x)
    assert pred.shape == (1, grid[0] * grid[1], 16 * 16 * 3)
    assert torch.isfinite(model.head.loss(pred, x, mask)['loss'])


def test_embeddings_of_the_same_grid_load_unchanged():
    source = pretrained_224()
    # stored values that are not the plugin's sin-cos (e.g. mmpretrain's)
    source['backbone.pos_embed'] = source['backbone.pos_embed'] + 0.5
    source['neck.decoder_pos_embed'] = torch.randn(1, 197, 16)
    model = plugin_mae(224)
    report = load_weights(model, source, strict=True)
    assert report.resized == []
    assert torch.equal(model.backbone.pos_embed, source['backbone.pos_embed'])
    assert torch.equal(model.neck.decoder_pos_embed,
                       source['neck.decoder_pos_embed'])


def test_mmengine_load_checkpoint_regenerates_through_the_hooks(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': pretrained_224()}, path)
    model = plugin_mae(384)
    load_checkpoint(model, path, strict=True)
    assert torch.equal(model.backbone.pos_embed, sincos_2d((24, 24), 32))
    assert torch.equal(model.neck.decoder_pos_embed, sincos_2d((24, 24), 16))


def vit(img_size, **kwargs):
    kwargs.setdefault('out_type', 'cls_token')
    return VisionTransformer(
        arch=TINY_ARCH, img_size=img_size, patch_size=16, **kwargs)


def bicubic(pos_embed, src, dst):
    grid = pos_embed[:, 1:].reshape(1, *src, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=dst, mode='bicubic', align_corners=False)
    return torch.cat([pos_embed[:, :1], grid.flatten(2).transpose(1, 2)], 1)


@pytest.mark.parametrize('img_size,grid', [(384, (24, 24)),
                                           ((256, 320), (16, 20))])
def test_learnable_embeddings_are_resized_bicubically(img_size, grid):
    source = vit(224)
    randomize(source, std=1.)
    stored = source.pos_embed.detach().clone()
    model = vit(img_size)
    report = load_weights(model, source.state_dict(), strict=True)
    assert report.resized == [f'pos_embed: bicubic resize (14, 14) -> {grid}']
    assert torch.equal(model.pos_embed[:, 0], stored[:, 0])  # class row
    torch.testing.assert_close(model.pos_embed.data,
                               bicubic(stored, (14, 14), grid))
    h, w = img_size if isinstance(img_size, tuple) else (img_size, ) * 2
    assert model(torch.randn(1, 3, h, w))[0].shape == (1, 32)


def test_frozen_learnable_embedding_is_resized_not_replaced():
    # frozen_stages (linear probing) clears pos_embed.requires_grad; the
    # embedding is still mmpretrain's learned one
    source = vit(224)
    randomize(source, std=1.)
    stored = source.pos_embed.detach().clone()
    model = vit(384, frozen_stages=2)
    assert not model.pos_embed.requires_grad
    report = load_weights(model, source.state_dict())
    assert report.resized == ['pos_embed: bicubic resize (14, 14) -> (24, 24)']
    torch.testing.assert_close(model.pos_embed.data,
                               bicubic(stored, (14, 14), (24, 24)))


@pytest.mark.parametrize('img_size', [224, (256, 320)])
def test_learnable_embeddings_of_the_same_grid_load_unchanged(img_size):
    source = vit(img_size)
    randomize(source, std=1.)
    model = vit(img_size)
    assert load_weights(model, source.state_dict()).resized == []
    assert torch.equal(model.pos_embed, source.pos_embed)


def test_non_square_source_grid_needs_src_grid_size():
    source = vit((256, 320)).state_dict()
    with pytest.raises(ValueError, match='src_grid_size'):
        load_weights(vit(224), source)
    model = vit(224)
    report = load_weights(model, source, src_grid_size=(16, 20))
    assert report.resized == ['pos_embed: bicubic resize (16, 20) -> (14, 14)']
    torch.testing.assert_close(
        model.pos_embed.data, bicubic(source['pos_embed'], (16, 20), (14, 14)))


@pytest.mark.parametrize('img_size,src_grid_size', [(224, None),
                                                    (224, (14, 14)),
                                                    (384, None)])
def test_class_row_is_dropped_for_a_model_without_class_token(
        img_size, src_grid_size):
    source = vit(224)
    randomize(source, std=1.)
    stored = source.pos_embed.detach().clone()  # [1, 1 + 14*14, 32]
    model = vit(img_size, with_cls_token=False, out_type='avg_featmap')
    report = load_weights(model, source.state_dict(), src_grid_size)
    grid = model.patch_resolution
    dropped = 'pos_embed: dropped the class row (the model has no class token)'
    if grid == (14, 14):
        assert report.resized == [dropped]
        assert torch.equal(model.pos_embed, stored[:, 1:])
    else:
        assert report.resized == [
            f'{dropped}; bicubic resize (14, 14) -> {grid}'
        ]
        torch.testing.assert_close(model.pos_embed.data,
                                   bicubic(stored, (14, 14), grid)[:, 1:])
    assert 'pos_embed' in report.matched and report.mismatched == []


def test_stored_embedding_without_class_row_for_a_class_token_raises():
    source = vit(224, with_cls_token=False, out_type='avg_featmap')
    with pytest.raises(ValueError,
                       match=r'pos_embed: stored without a class row '
                       r'\(\(1, 196, 32\)\), the model has a class token '
                       r'\(\(1, 577, 32\)\)'):
        load_weights(vit(384), source.state_dict())


def test_src_grid_size_that_fits_no_layout_names_both():
    with pytest.raises(ValueError,
                       match=r'\(14, 15\) \(210 patches\) does not fit '
                       'the 197 rows of pos_embed'):
        load_weights(vit(384), vit(224).state_dict(), (14, 15))


def test_missing_unexpected_and_mismatched_keys_are_reported():
    source = pretrained_224()
    del source['neck.decoder_pred.bias']
    source['neck.extra.weight'] = torch.zeros(2)
    source['backbone.ln1.weight'] = torch.ones(7)
    model = plugin_mae(224)
    report = load_weights(model, source)
    assert report.missing == ['neck.decoder_pred.bias']
    assert report.unexpected == ['neck.extra.weight']
    assert report.mismatched == ['backbone.ln1.weight']
    assert report.shape_lines() == [
        'backbone.ln1.weight: checkpoint (7,) vs model (32,)'
    ]
    assert len(report.matched) == len(model.state_dict()) - 2
    with pytest.raises(ValueError, match='neck.decoder_pred.bias'):
        load_weights(model, source, strict=True)


def test_a_load_matching_no_key_is_an_error():
    with pytest.raises(ValueError, match='none of its 2 keys'):
        load_weights(
            plugin_mae(224), {
                'a': torch.zeros(1),
                'b': torch.zeros(1)
            })


def test_a_path_given_for_the_state_dict_is_refused_by_name(tmp_path):
    """A checkpoint's path failed in ``OrderedDict`` with "need more than
    1 value to unpack"."""
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': pretrained_224()}, path)
    model = plugin_mae(224)
    rule = ('state_dict must be a mapping of parameter names to tensors '
            '(load_state_dict_file reads one from a checkpoint file), got ')
    for state_dict, got in ((path, f'{path!r} (str)'),
                            (tmp_path / 'epoch_1.pth',
                             f'{tmp_path / "epoch_1.pth"!r} (PosixPath)'),
                            (None, 'NoneType'), ([1, 2], 'list')):
        with pytest.raises(TypeError, match=f'^{re.escape(rule + got)}$'):
            load_weights(model, state_dict)
    assert load_weights(model, load_state_dict_file(path)).matched


def test_readers_name_a_checkpoint_that_is_not_a_path(tmp_path):
    """None gave ``os.path``'s "expected str, bytes or os.PathLike
    object"; a ``pathlib`` path failed on ``str.endswith``."""
    for read in (load_state_dict_file, read_checkpoint_file,
                 lambda path: load_prefixed_state_dict(path, 'backbone.')):
        with pytest.raises(TypeError, match=re.escape(
                'checkpoint must be a path (str or os.PathLike), got None '
                '(NoneType)')):
            read(None)
    path = tmp_path / 'weights.pth'
    torch.save({'state_dict': {'backbone.w': torch.ones(2)}}, path)
    assert load_state_dict_file(path).keys() == {'backbone.w'}
    assert load_prefixed_state_dict(path, 'backbone').keys() == {'w'}


def test_a_prefix_no_key_has_gives_an_empty_state_dict(tmp_path):
    """No error here: the loaders report it with what the module misses
    (load_encoder_weights names the prefix, PretrainedKeysHook counts 0
    keys matched)."""
    path = str(tmp_path / 'weights.pth')
    torch.save({'state_dict': {'backbone.w': torch.ones(2)}}, path)
    assert load_prefixed_state_dict(path, 'encoder.') == {}


def test_state_dict_files_are_unwrapped_and_checked(tmp_path):
    tensors = {'w': torch.ones(2)}
    for entry in ('state_dict', 'model'):
        path = str(tmp_path / f'{entry}.pth')
        torch.save({entry: tensors, 'meta': {'epoch': 3}}, path)
        assert load_state_dict_file(path).keys() == {'w'}
    path = str(tmp_path / 'bare.pth')
    torch.save(tensors, path)
    assert torch.equal(load_state_dict_file(path)['w'], torch.ones(2))
    torch.save({'w': torch.ones(2), 'epoch': 3}, path)
    with pytest.raises(TypeError, match='epoch'):
        load_state_dict_file(path)
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        load_state_dict_file(str(tmp_path / 'nothing.pth'))


class RunState:
    """A class of some training code, which no checkpoint loader allows."""


def test_files_are_read_with_weights_only(tmp_path):
    path = str(tmp_path / 'pickled.pth')
    torch.save({
        'model': {
            'w': torch.ones(1)
        },
        'state': RunState()
    }, path)
    with pytest.raises(pickle.UnpicklingError,
                       match=r'refusing to load checkpoint .*pickled\.pth: '
                       r'.*RunState'):
        load_state_dict_file(path)
