import logging
import re

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger

from mae_plugin.checkpoint import (convert_to_official_mae,
                                   load_encoder_weights)
from mae_plugin.models import DenseViT
from mae_plugin.registry import build_model
from ..conftest import TINY_ARCH, tiny_mae_cfg


def build(**kwargs):
    cfg = dict(arch=TINY_ARCH, img_size=32, pretrain_img_size=32, patch_size=8)
    cfg.update(kwargs)
    model = DenseViT(**cfg)
    model.init_weights()
    model.eval()
    return model


def load_line(model):
    """Initialise ``model`` from its ``init_cfg``; the load's log line."""
    logger = MMLogger.get_current_instance()
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    return next(m for m in messages if m.startswith('DenseViT: '))


@pytest.fixture
def mae_checkpoint(tmp_path):
    """A tiny MAE's weights saved as an mmengine checkpoint."""
    mae = build_model(tiny_mae_cfg())
    mae.init_weights()
    path = str(tmp_path / 'mae.pth')
    torch.save({'meta': {'epoch': 1}, 'state_dict': mae.state_dict()}, path)
    return path, {
        k[len('backbone.'):]: v
        for k, v in mae.state_dict().items() if k.startswith('backbone.')
    }


def test_feature_maps_for_non_square_inputs():
    model = build(out_indices=(0, -1))
    outs = model(torch.randn(2, 3, 40, 56))
    assert [o.shape for o in outs] == [(2, 32, 5, 7)] * 2
    # Sides that are not multiples of the patch are padded.
    assert model(torch.randn(1, 3, 36, 50))[0].shape == (1, 32, 5, 7)


def test_window_covering_the_grid_equals_global_attention():
    x = torch.randn(2, 3, 32, 32)  # 4x4 patches
    global_attn = build()
    whole = build(window_size=4)
    whole.load_state_dict(global_attn.state_dict())
    torch.testing.assert_close(whole(x), global_attn(x))
    local = build(window_size=2)
    local.load_state_dict(global_attn.state_dict())
    assert not torch.allclose(local(x)[0], global_attn(x)[0], atol=1e-3)


def test_global_blocks_and_relative_position_tables():
    model = build(
        arch=dict(TINY_ARCH, num_layers=3),
        img_size=(48, 64),
        window_size=2,
        global_attn_indexes=(-1, ),
        use_rel_pos=True)
    assert [layer.window_size for layer in model.layers] == [2, 2, 0]
    head_dims = 32 // 4
    assert model.layers[0].attn.rel_pos_h.shape == (3, head_dims)
    assert model.layers[2].attn.rel_pos_h.shape == (11, head_dims)
    assert model.layers[2].attn.rel_pos_w.shape == (15, head_dims)
    # Zero tables (their initial value) change nothing; trained ones do.
    plain = build(
        arch=dict(TINY_ARCH, num_layers=3),
        window_size=2,
        global_attn_indexes=(-1, ))
    plain.load_state_dict(model.state_dict(), strict=False)
    x = torch.randn(1, 3, 48, 64)
    torch.testing.assert_close(model(x), plain(x))
    torch.nn.init.normal_(model.layers[2].attn.rel_pos_h)
    assert not torch.allclose(model(x)[0], plain(x)[0], atol=1e-3)


def test_drop_path_rises_linearly_and_is_off_in_eval():
    model = build(arch=dict(TINY_ARCH, num_layers=3), drop_path_rate=0.4)
    rates = [layer.ffn.dropout_layer.drop_prob for layer in model.layers]
    assert rates == pytest.approx([0., 0.2, 0.4])
    # the attention branch is dropped with the same rate, and is used
    assert [layer.drop_path.drop_prob
            for layer in model.layers] == pytest.approx(rates)
    calls = []
    model.layers[2].drop_path.register_forward_pre_hook(
        lambda *args: calls.append(1))
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x)[0], model(x)[0])
    assert len(calls) == 4


def test_activation_checkpointing_recomputes_blocks_with_same_grads():
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = build(with_cp=with_cp)
        calls = []
        model.layers[0].register_forward_pre_hook(
            lambda *args: calls.append(1))
        model(x)[0].square().sum().backward()
        # checkpointing runs the block again in the backward pass
        assert len(calls) == (2 if with_cp else 1)
        grads.append(model.layers[0].attn.qkv.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_pretraining_checkpoint_loads_every_encoder_key(mae_checkpoint):
    path, encoder = mae_checkpoint
    model = DenseViT(
        arch=TINY_ARCH,
        img_size=32,
        pretrain_img_size=32,
        patch_size=8,
        final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    model.init_weights()
    own = model.state_dict()
    # every key of the dense backbone comes from the encoder; only the
    # class token is left out
    assert set(own) == set(encoder) - {'cls_token'}
    for key, value in own.items():
        torch.testing.assert_close(value, encoder[key], msg=key)
    report = load_encoder_weights(DenseViT(arch=TINY_ARCH, patch_size=8,
                                           pretrain_img_size=32), path)
    assert len(report.matched) == len(encoder) - 3
    assert report.missing == []
    assert sorted(report.unexpected) == ['cls_token', 'ln1.bias', 'ln1.weight']


def test_bare_state_dict_with_empty_prefix_loads(mae_checkpoint, tmp_path):
    _, encoder = mae_checkpoint
    path = str(tmp_path / 'encoder.pth')
    torch.save({'model': encoder}, path)
    report = load_encoder_weights(
        DenseViT(arch=TINY_ARCH, patch_size=8, pretrain_img_size=32),
        path,
        prefix='')
    assert len(report.matched) == len(encoder) - 3


def test_position_embedding_of_another_grid_is_resized(mae_checkpoint):
    path, encoder = mae_checkpoint
    model = DenseViT(arch=TINY_ARCH, patch_size=8, pretrain_img_size=64)
    report = load_encoder_weights(model, path, adapt=model.adapt_pretrained)
    assert 'pos_embed' in report.matched
    assert model.pos_embed.shape == (1, 1 + 8 * 8, 32)
    stored = encoder['pos_embed']  # class row plus a 4x4 grid
    # the class row is kept as stored
    assert torch.equal(model.pos_embed[:, 0], stored[:, 0])
    # the 4x4 grid is resized to 8x8 bicubically (the documented
    # ``interpolate_mode`` default), half-pixel centres, channels apart
    grid = stored[0, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)

    def resized(mode):
        out = F.interpolate(grid, size=(8, 8), mode=mode, align_corners=False)
        return out[0].permute(1, 2, 0).reshape(64, 32)

    new = model.pos_embed.detach()[0, 1:]
    torch.testing.assert_close(new, resized('bicubic'), rtol=0, atol=1e-6)
    # the check tells bicubic from bilinear
    assert (resized('bilinear') - new).abs().max() > 1e-2


def test_checkpoint_without_matching_keys_raises(mae_checkpoint):
    path, _ = mae_checkpoint
    model = DenseViT(
        arch=TINY_ARCH,
        patch_size=8,
        pretrain_img_size=32,
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='encoder.'))
    with pytest.raises(ValueError, match="prefix 'encoder.'.* holds 0 of"):
        model.init_weights()


def test_checkpoint_of_another_layout_matching_few_keys_raises(
        mae_checkpoint, tmp_path):
    # an official-layout file read with prefix '': only pos_embed is named
    # as in the plugin's layout
    official, _ = convert_to_official_mae(
        torch.load(mae_checkpoint[0], weights_only=True)['state_dict'])
    path = str(tmp_path / 'official.pth')
    torch.save({'model': official}, path)
    with pytest.raises(ValueError) as error:
        build(init_cfg=dict(type='Pretrained', checkpoint=path, prefix=''))
    message = str(error.value)
    # 1 (pos_embed) of the encoder's 27 keys (2 embedding, the position
    # embedding, 12 per block) matched
    assert f"{path!r} under prefix ''" in message
    assert 'holds 1 of the 27 keys' in message
    assert "'patch_embed.projection.weight'" in message
    assert 'tools/model_converters/convert_checkpoint.py' in message


def test_checkpoint_lacking_one_encoder_weight_raises(mae_checkpoint,
                                                      tmp_path):
    _, encoder = mae_checkpoint
    del encoder['layers.1.attn.qkv.weight']
    path = str(tmp_path / 'cut.pth')
    torch.save({'state_dict': encoder}, path)
    model = DenseViT(arch=TINY_ARCH, patch_size=8, pretrain_img_size=32)
    with pytest.raises(ValueError, match=r"\['layers.1.attn.qkv.weight'\]"):
        load_encoder_weights(model, path, prefix='',
                             optional_keys=model.keys_beyond_encoder())


@pytest.mark.parametrize('options,block_keys', [
    (dict(window_size=2, global_attn_indexes=(1, ), use_rel_pos=True),
     ('attn.rel_pos_h', 'attn.rel_pos_w')),
    (dict(use_rel_pos_bias=True, layer_scale_init_value=0.5),
     ('attn.relative_position_bias_table', 'attn.relative_position_index',
      'gamma_1', 'gamma_2')),
])
def test_pretraining_checkpoint_loads_with_added_weights(
        mae_checkpoint, options, block_keys):
    path, encoder = mae_checkpoint
    # the checkpoint's two blocks, and the final norm
    model = DenseViT(
        arch=TINY_ARCH,
        img_size=32,
        pretrain_img_size=32,
        patch_size=8,
        final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=path),
        **options)
    model.init_weights()
    own = model.state_dict()
    added = {f'layers.{i}.{key}' for i in range(2) for key in block_keys}
    assert set(model.keys_beyond_encoder()) == (
        added | {'ln1.weight', 'ln1.bias'})
    # the pretraining checkpoint holds the final norm: only the added
    # weights keep their initialisation
    assert {key for key in own if key not in encoder} == added
    for key in set(own) & set(encoder):
        torch.testing.assert_close(own[key], encoder[key], msg=key)


def test_checkpoint_of_fewer_blocks_raises(mae_checkpoint):
    """A deeper model of the same width (another arch) is not loaded in
    part: its third block would be trained from scratch."""
    path, _ = mae_checkpoint
    model = build(arch=dict(TINY_ARCH, num_layers=3))
    with pytest.raises(ValueError) as error:
        load_encoder_weights(model, path, prefix='backbone.',
                             optional_keys=model.keys_beyond_encoder())
    assert str(error.value) == (
        f"checkpoint {path!r} under prefix 'backbone.' holds an encoder of "
        '2 blocks, and DenseViT has 3: give it the arch of the pretrained '
        'encoder (a checkpoint of fewer blocks is another arch, not loaded '
        'in part)')


def test_position_embedding_of_a_rectangular_grid_names_the_file(
        mae_checkpoint, tmp_path):
    _, encoder = mae_checkpoint
    encoder['pos_embed'] = torch.zeros(1, 1 + 2 * 4, 32)  # a 2x4 grid
    path = str(tmp_path / 'rect.pth')
    torch.save({'state_dict': encoder}, path)
    model = build()
    with pytest.raises(
            ValueError,
            match=f"^checkpoint '{re.escape(path)}': pos_embed "
            r'\(1, 9, 32\) is not a class row plus a square grid; set '
            'pretrain_img_size to the pretraining input size$'):
        load_encoder_weights(model, path, prefix='',
                             adapt=model.adapt_pretrained)


def test_checkpoint_of_another_patch_size_raises(mae_checkpoint):
    """Kernels of another size than ``patch_size`` are refused, naming
    the option that resizes them; with that option, kernels of another
    size than it says are refused too; kernels of another width name the
    arch."""
    path, _ = mae_checkpoint  # 8x8 kernels
    model = DenseViT(arch=TINY_ARCH, patch_size=4, pretrain_img_size=16)
    with pytest.raises(ValueError) as error:
        load_encoder_weights(model, path, adapt=model.adapt_pretrained)
    assert str(error.value) == (
        f"checkpoint '{path}': patch_embed.projection.weight holds 8x8 "
        "kernels and patch_size is 4; to resize them (as ViTDet's ViT-H, "
        'pretrained with 14-pixel patches, detects with 16), set '
        'pretrain_patch_size to the pretraining patch size')
    model = DenseViT(arch=TINY_ARCH, img_size=48, patch_size=12,
                     pretrain_patch_size=7, pretrain_img_size=48)
    with pytest.raises(ValueError) as error:
        load_encoder_weights(model, path, adapt=model.adapt_pretrained)
    assert str(error.value) == (
        f"checkpoint '{path}': patch_embed.projection.weight holds 8x8 "
        'kernels and pretrain_patch_size is 7; set it to the patch size the '
        'encoder was pretrained with')
    # without adapt_pretrained, the shapes alone are compared
    with pytest.raises(ValueError, match='patch_embed.projection.weight'):
        load_encoder_weights(model, path)
    # a wider arch was told to set pretrain_patch_size, which only led to
    # the next refusal
    model = DenseViT(arch=dict(TINY_ARCH, embed_dims=48), patch_size=4,
                     pretrain_img_size=16)
    with pytest.raises(ValueError) as error:
        load_encoder_weights(model, path, adapt=model.adapt_pretrained)
    assert str(error.value) == (
        f"checkpoint '{path}': patch_embed.projection.weight holds kernels "
        'of 32 channels and the arch of DenseViT gives 48: give it the arch '
        'of the pretrained encoder')


def test_patch_kernels_of_another_size_are_resized_bicubically(
        mae_checkpoint):
    """ViTDet's ViT-H recipe on a tiny scale: an encoder pretrained with
    8-pixel patches loads into a backbone of 12-pixel ones with
    ``pretrain_patch_size=8``. Each kernel is resized bicubically (half-pixel
    centres) and the load line names the resize; every other weight loads
    as stored, the 4x4 position table included (``pretrain_img_size`` 48
    is the same grid)."""
    path, encoder = mae_checkpoint
    model = DenseViT(arch=TINY_ARCH, img_size=48, patch_size=12,
                     pretrain_patch_size=8, pretrain_img_size=48,
                     init_cfg=dict(type='Pretrained', checkpoint=path))
    line = load_line(model)
    assert line.endswith("; resized: ['patch_embed.projection.weight: "
                         "(32, 3, 8, 8) -> (32, 3, 12, 12)']")
    stored = encoder['patch_embed.projection.weight']

    def resized(mode):
        return F.interpolate(stored, size=(12, 12), mode=mode,
                             align_corners=False)

    kernels = model.patch_embed.projection.weight.detach()
    torch.testing.assert_close(kernels, resized('bicubic'), rtol=0,
                               atol=1e-6)
    # the check tells bicubic from bilinear
    assert (resized('bilinear') - kernels).abs().max() > 1e-3
    for key, value in model.state_dict().items():
        if key != 'patch_embed.projection.weight':
            torch.testing.assert_close(value, encoder[key], msg=key)
    model.eval()
    assert model(torch.randn(1, 3, 48, 48))[0].shape == (1, 32, 4, 4)


def test_layer_depths_for_lr_decay():
    model = build(arch=dict(TINY_ARCH, num_layers=3))
    depth = model.get_layer_depth
    assert depth('backbone.pos_embed', 'backbone.') == (0, 5)
    assert depth('backbone.patch_embed.projection.weight',
                 'backbone.') == (0, 5)
    assert depth('backbone.layers.2.attn.qkv.weight', 'backbone.') == (3, 5)
    assert depth('neck.convs.0.0.conv.weight', 'backbone.') == (4, 5)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(arch='tiny'), ValueError, 'arch must be one of'),
    (dict(arch=dict(embed_dims=32)), KeyError, 'num_layers'),
    (dict(out_indices=(2, )), ValueError, 'out_indices'),
    (dict(global_attn_indexes=(-3, )), ValueError, 'global_attn_indexes'),
    (dict(window_size=-1), ValueError, 'window_size'),
    (dict(patch_size=0), ValueError, 'patch_size'),
    (dict(pretrain_patch_size=0), ValueError,
     '^pretrain_patch_size must be an int >= 1, got 0$'),
    (dict(pretrain_img_size=4), ValueError,
     'pretrain_img_size 4x4 is not a multiple of patch_size 8'),
    (dict(img_size=(32, 36)), ValueError,
     'img_size 32x36 is not a multiple of patch_size 8'),
    (dict(in_channels=0), ValueError, 'in_channels must be an int >= 1'),
    (dict(interpolate_mode='bicubc'), ValueError, 'interpolate_mode'),
    (dict(use_rel_pos_bias='False'), TypeError, 'use_rel_pos_bias must be'),
    (dict(use_rel_pos='False'), TypeError, 'use_rel_pos must be'),
    (dict(final_norm=1), TypeError, 'final_norm must be True or False'),
    (dict(with_cp='no'), TypeError, 'with_cp must be True or False'),
    (dict(drop_path_rate=1.5), ValueError,
     r'^drop_path_rate must be a number in \[0, 1\), got 1.5$'),
    (dict(drop_path_rate=1.0), ValueError, r'^drop_path_rate must be '),
    (dict(drop_rate=-0.1), ValueError,
     r'^drop_rate must be a number in \[0, 1\), got -0.1$'),
    (dict(drop_rate='0.1'), TypeError, r'^drop_rate must be a number'),
    (dict(qkv_bias='abc'), TypeError,
     r"^qkv_bias must be True or False, got 'abc' \(str\)$"),
])
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        build(**kwargs)


def test_pretrained_init_without_checkpoint_raises():
    model = DenseViT(arch=TINY_ARCH, init_cfg=dict(type='Pretrained'))
    with pytest.raises(KeyError, match='checkpoint'):
        model.init_weights()


def test_block_computes_the_pretraining_block_on_the_same_keys():
    """A global block loaded with an MAEViT block's weights computes what
    that block computed on the same tokens."""
    encoder = build_model(tiny_mae_cfg()).backbone
    encoder.eval()
    block = build().layers[0]
    block.load_state_dict(encoder.layers[0].state_dict())
    tokens = torch.randn(2, 12, 32)  # [N, L, D], a 3x4 grid
    expected = encoder.layers[0](tokens)
    out = block(tokens.view(2, 3, 4, 32)).view(2, 12, 32)
    torch.testing.assert_close(out, expected)


def test_without_a_checkpoint_the_blocks_get_the_mae_initialisation():
    model = build(arch=dict(TINY_ARCH, num_layers=3))
    # torch's default Linear init has a non-zero bias; MAE's is zero
    for block in model.layers:
        assert block.attn.qkv.bias.abs().sum() == 0
        assert block.attn.qkv.weight.abs().sum() > 0


def test_official_checkpoint_loads_through_the_converter(
        mae_checkpoint, tmp_path):
    from mae_plugin.checkpoint import (convert_official_mae,
                                       convert_to_official_mae)
    path, encoder = mae_checkpoint
    plugin = torch.load(path, weights_only=True)['state_dict']
    official, _ = convert_to_official_mae(plugin)  # the paper code's keys
    assert 'blocks.0.attn.qkv.weight' in official
    converted, report = convert_official_mae(official)
    assert report.missing == [] and report.unexpected == []
    converted_path = str(tmp_path / 'converted.pth')
    torch.save({'state_dict': converted}, converted_path)
    model = DenseViT(
        arch=TINY_ARCH,
        img_size=32,
        pretrain_img_size=32,
        patch_size=8,
        final_norm=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=converted_path, prefix='backbone.'))
    model.init_weights()
    assert len(model.state_dict()) == len(encoder) - 1  # no class token
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, encoder[key], msg=key)


def test_positions_are_resized_to_a_non_square_input_grid():
    """A 40x56 input has a 5x7 patch grid: the positions added to its patch
    tokens are the stored 4x4 grid resized to 5 rows and 7 columns,
    bicubically with half-pixel centres, as ``F.interpolate`` does."""
    model = build()
    seen = {}
    model.patch_embed.register_forward_hook(
        lambda module, args, out: seen.update(patches=out[0]))
    model.layers[0].register_forward_pre_hook(
        lambda module, args: seen.update(block_input=args[0]))
    model(torch.randn(2, 3, 40, 56))
    added = seen['block_input'] - seen['patches'].view(2, 5, 7, 32)
    stored = model.pos_embed.detach()[:, 1:]  # [1, 16, D]
    grid = stored.reshape(1, 4, 4, 32).permute(0, 3, 1, 2)  # [1, D, 4, 4]
    expected = F.interpolate(
        grid, size=(5, 7), mode='bicubic',
        align_corners=False).permute(0, 2, 3, 1)  # [1, 5, 7, D]
    # patch tokens of size ~1 lose ~1e-7 when the positions are added
    torch.testing.assert_close(
        added, expected.expand(2, -1, -1, -1), rtol=0, atol=1e-5)


@pytest.mark.parametrize('use_rel_pos_bias', [False, True])
def test_inputs_of_a_dtype_the_projection_cannot_take_are_refused(
        use_rel_pos_bias):
    """As MAEViT: integer pixels, and float dtypes other than the weights'
    outside autocast, failed in the patch projection with torch's "Input
    type (unsigned char) and bias type (float) should be the same"; under
    autocast a float dtype other than float64 runs."""
    model = build(use_rel_pos_bias=use_rel_pos_bias)
    x = torch.randn(2, 3, 32, 32)
    integer = ('inputs must be floating-point images (the data '
               'preprocessor converts the loaded uint8 images to float), '
               'got {}')
    other_float = ('inputs must be torch.float32, the dtype of the '
                   'weights, outside torch.autocast (which casts float16, '
                   'bfloat16 and float32), got {}')
    for dtype, message in ((torch.uint8, integer), (torch.int64, integer),
                           (torch.float64, other_float),
                           (torch.bfloat16, other_float)):
        with pytest.raises(TypeError,
                           match=f'^{re.escape(message.format(dtype))}$'):
            model(x.to(dtype))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert model(x.half())[0].shape == (2, 32, 4, 4)
        with pytest.raises(TypeError, match='got torch.float64$'):
            model(x.double())


def test_a_resized_position_embedding_is_logged(mae_checkpoint):
    """A ``pretrain_img_size`` other than the checkpoint's (the default
    224 for a 32-pixel pretraining) resizes the table at load: the load's
    line says so, with both shapes (it said only '29 of 29 keys
    matched')."""
    path, _ = mae_checkpoint
    model = DenseViT(arch=TINY_ARCH, patch_size=8, pretrain_img_size=64,
                     init_cfg=dict(type='Pretrained', checkpoint=path))
    line = load_line(model)
    assert line.endswith(
        "; resized: ['pos_embed: (1, 17, 32) -> (1, 65, 32)']")
    report = load_encoder_weights(
        DenseViT(arch=TINY_ARCH, patch_size=8, pretrain_img_size=32), path)
    assert report.resized == []


@pytest.mark.parametrize('frozen_stages, frozen_blocks', [(-1, 0), (0, 0),
                                                          (1, 1),
                                                          ('all', 2)])
def test_frozen_stages_keep_the_embeddings_and_first_blocks(
        frozen_stages, frozen_blocks):
    """``frozen_stages`` freezes the embeddings (from 0) and the first
    blocks, the final norm with every block: an AdamW step after a
    backward pass leaves them as they were and moves the rest, and
    ``train()`` keeps them in eval mode (no drop path). A depth it does
    not have is refused by name."""
    torch.manual_seed(0)
    model = build(final_norm=True, frozen_stages=frozen_stages)
    assert model.num_layers == 2
    before = {name: p.detach().clone()
              for name, p in model.named_parameters()}
    head = torch.nn.Parameter(torch.ones(()))  # trains when all is frozen
    optimizer = torch.optim.AdamW([*model.parameters(), head], lr=0.1)
    model.train()
    sum((head * out).square().mean()
        for out in model(torch.randn(2, 3, 32, 32))).backward()
    optimizer.step()
    frozen = {'patch_embed', 'pos_embed'} if frozen_stages != -1 else set()
    frozen |= {f'layers.{i}' for i in range(frozen_blocks)}
    if frozen_blocks == 2:
        frozen.add('ln1')
    for name, p in model.named_parameters():
        is_frozen = any(name == key or name.startswith(key + '.')
                        for key in frozen)
        assert p.requires_grad == (not is_frozen), name
        assert torch.equal(p, before[name]) == is_frozen, name
    assert [layer.training for layer in model.layers] == [
        i >= frozen_blocks for i in range(2)]
    assert model.patch_embed.training == (frozen_stages == -1)
    with pytest.raises(ValueError, match=re.escape(
            "frozen_stages must be 'all' or an int in [-1, 2] (the "
            "encoder's depth), got 3")):
        build(frozen_stages=3)


def test_activation_checkpointing_recomputes_every_trained_block():
    """With ``with_cp``, every block that trains runs again in the
    backward pass, the first after frozen ones included (its input needs
    no gradient, its weights do), and a frozen one does not."""
    model = build(with_cp=True, frozen_stages=1)
    calls = [0, 0]

    def counted(i, forward):
        def run(*args, **kwargs):
            calls[i] += 1
            return forward(*args, **kwargs)
        return run

    for i, layer in enumerate(model.layers):
        layer.forward = counted(i, layer.forward)
    model.train()
    sum(out.square().mean()
        for out in model(torch.randn(2, 3, 32, 32))).backward()
    assert calls == [1, 2]
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert calls == [2, 3]
