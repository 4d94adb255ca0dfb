import copy
import re

import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from mae_plugin.models import mae_config
from mae_plugin.models.algorithms.mae import image_seed
from mae_plugin.models.factory import DEFAULT_DECODER
from mae_plugin.models.utils import patchify
from mae_plugin.registry import MODELS
from ..conftest import tiny_mae_cfg


def build(cfg):
    init_default_scope('mae_plugin')
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def batch(n=2, channels=3, size=32):
    return dict(
        inputs=torch.randint(
            0, 256, (n, channels, size, size), dtype=torch.uint8),
        data_samples=[DataSample() for _ in range(n)])


def test_loss_backward_and_only_trainable_params_get_grads():
    model = build(tiny_mae_cfg())
    data = model.data_preprocessor(batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss'}
    assert torch.isfinite(losses['loss'])
    losses['loss'].backward()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {'backbone.pos_embed', 'neck.decoder_pos_embed'}
    assert model.backbone.pos_embed.grad is None
    assert model.neck.decoder_pos_embed.grad is None
    # Every trainable tensor must learn: a zero gradient (e.g. a
    # detached branch, or mask tokens never reaching the loss) would pass
    # ``grad is not None``.
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, name
            assert param.grad.abs().sum() > 0, name
    # The one legitimately zero gradient is a slice, not a tensor: the key
    # part of each ``qkv.bias`` adds q . b_k to every logit of a query's
    # softmax row, a constant that softmax cancels, so its gradient is 0
    # up to rounding (~1e-11 here), while the query and value parts learn.
    for name, param in model.named_parameters():
        if name.endswith('qkv.bias'):
            q, k, v = param.grad.chunk(3)
            assert q.abs().sum() > 0 and v.abs().sum() > 0, name
            assert k.abs().max() < 1e-6 * v.abs().max(), name


def test_loss_matches_a_manual_computation():
    model = build(tiny_mae_cfg(norm_pix=True))
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(3)
    loss = model.loss(x, [])['loss']
    torch.manual_seed(3)
    noise = torch.rand(2, 16)  # the draw RandomMasking made
    latent, mask, ids_restore = model.backbone(x, noise=noise)
    pred = model.neck(latent, ids_restore)
    target = patchify(x, 8)
    mean = target.mean(-1, keepdim=True)
    var = target.var(-1, keepdim=True)
    target = (target - mean) / (var + 1e-6)**.5
    manual = (((pred - target)**2).mean(-1) * mask).sum() / mask.sum()
    torch.testing.assert_close(loss, manual)


def test_predict_returns_pixels_and_mask_reproducibly():
    model = build(tiny_mae_cfg())
    model.eval()
    raw = batch()
    data = model.data_preprocessor(copy.deepcopy(raw), training=False)
    state = torch.get_rng_state()
    a = model(**data, mode='predict')
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched
    b = model(data['inputs'], None, mode='predict')
    assert a[0].reconstruction.shape == (3, 32, 32)
    assert a[0].mask.shape == (4, 4)
    assert a[0].mask.sum() == 12
    assert torch.equal(a[1].mask, b[1].mask)
    assert float(a[0].masked_mse) > 0
    pixels = model.to_pixels(data['inputs'])
    assert 0 <= pixels.min() and pixels.max() <= 255
    # The input in pixels, independently: the raw uint8 image with its
    # channels flipped (the preprocessor's to_rgb).
    expected_pixels = raw['inputs'].flip(1).float()
    torch.testing.assert_close(pixels, expected_pixels)
    # masked_mse: squared error averaged over the channels and pixels of
    # the removed patches (mask == 1) only, recomputed patch by patch.
    for sample, image in zip(a, expected_pixels):
        errors = []
        for i, j in sample.mask.nonzero().tolist():
            rows, cols = slice(8 * i, 8 * i + 8), slice(8 * j, 8 * j + 8)
            diff = sample.reconstruction[:, rows, cols] - image[:, rows, cols]
            errors.append(diff.pow(2).flatten())
        assert len(errors) == 12
        torch.testing.assert_close(sample.masked_mse, torch.cat(errors).mean())


def test_predict_masked_mse_by_hand(monkeypatch):
    """Known masks and reconstruction errors: visible patches are far off
    (50 pixel values) and must not count."""
    model = build(tiny_mae_cfg()).eval()
    mask = torch.zeros(2, 16)
    mask[0, :4] = 1  # first row of the 4x4 grid removed
    mask[1, [0, 5, 10, 15]] = 1  # the diagonal removed
    offset = torch.full((2, 3, 32, 32), 50.)  # pixel-value error
    for n, k in mask.nonzero().tolist():
        rows = slice(8 * (k // 4), 8 * (k // 4) + 8)
        cols = slice(8 * (k % 4), 8 * (k % 4) + 8)
        if n == 0:  # per-channel errors 1, 2, 3
            offset[0, :, rows, cols] = torch.tensor([1., 2., 3.])[:, None,
                                                                  None]
        else:  # 4 on the first removed patch, exact on the other three
            offset[1, :, rows, cols] = 4. if k == 0 else 0.
    monkeypatch.setattr(
        model, 'reconstruct', lambda inputs, **kwargs:
        (torch.zeros(2, 16, 192), mask))
    # std 64: an offset of d / 64 in normalised units is d pixel values.
    monkeypatch.setattr(model.head, 'reconstruct',
                        lambda pred, imgs: imgs + offset / 64)
    samples = model.predict(torch.zeros(2, 3, 32, 32))
    assert torch.equal(samples[1].mask.flatten(), mask[1])
    # Sample 0: every removed pixel has squared errors 1, 4, 9 over the
    # channels: (1 + 4 + 9) / 3 = 14 / 3.
    # Sample 1: one of four removed patches has error 4 -> 16 / 4 = 4.
    # (Averaging over all patches would give ~1876 for both.)
    torch.testing.assert_close(samples[0].masked_mse, torch.tensor(14 / 3))
    torch.testing.assert_close(samples[1].masked_mse, torch.tensor(4.))


def test_predict_masked_loss_is_the_training_loss_per_image():
    """``masked_loss`` is the head's loss over each image's removed
    patches: the batch's training loss when, as here, every image removes
    as many patches; and it holds none of their statistics. A norm-pix
    model that predicts zeros scores (n - 1) / n per patch of n values
    (the normalised target's mean square, with the unbiased variance),
    191/192 for 8x8x3 patches, whatever the image; its ``masked_mse`` is
    the removed patches' variance: the reconstruction has their true
    means."""
    model = build(tiny_mae_cfg()).eval()
    data = model.data_preprocessor(batch(), training=False)
    samples = model(**data, mode='predict')
    pred, mask = model.reconstruct(data['inputs'],
                                   noise=predict_noise(model, [0, 1]))
    loss = model.head.loss(pred, data['inputs'], mask)['loss']
    torch.testing.assert_close(
        torch.stack([s.masked_loss for s in samples]).mean(), loss)

    model.reconstruct = lambda inputs, **kwargs: (torch.zeros_like(pred),
                                                  mask)
    samples = model.predict(data['inputs'])
    patches = patchify(model.to_pixels(data['inputs']), 8)  # [2, 16, 192]
    for sample, image_patches, removed in zip(samples, patches, mask):
        torch.testing.assert_close(
            sample.masked_loss, torch.tensor(191 / 192), rtol=1e-4, atol=0)
        variance = image_patches[removed.bool()].var(dim=-1, unbiased=False)
        torch.testing.assert_close(sample.masked_mse, variance.mean())


def test_tensor_mode_gives_unmasked_features():
    model = build(tiny_mae_cfg())
    feats = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert feats[0].shape == (2, 17, 32)


def test_a_mask_ratio_in_place_of_data_samples_is_named():
    """The official code's ``model(imgs, 0.75)`` returned the unmasked
    features here, which the caller's ``loss, pred, mask = ...`` then
    failed to unpack ("expected 3, got 1")."""
    model = build(tiny_mae_cfg())
    with pytest.raises(TypeError, match=(
            r'^data_samples must be a list of data samples \(one per image\) '
            r'or None, got 0.75 \(float\); a mask ratio is the encoder\'s '
            r'masking generator\'s \(mae_plugin.apis.set_masking\) and '
            r"mode='loss' returns the loss$")):
        model(torch.randn(2, 3, 32, 32), 0.75)


@pytest.mark.parametrize('channels', [1, 4])
def test_other_channel_counts(channels):
    model = build(tiny_mae_cfg(in_channels=channels))
    data = model.data_preprocessor(batch(channels=channels), training=True)
    assert torch.isfinite(model(**data, mode='loss')['loss'])


def test_four_channels_normalise_with_one_value_and_four_are_named():
    """mmengine's preprocessors take 1 or 3 values: four (one per channel
    of a 4-channel model) failed in its constructor, naming no key."""
    cfg = tiny_mae_cfg(in_channels=4)
    cfg['data_preprocessor'].update(mean=[127.5], std=[64.])
    model = build(cfg)
    data = model.data_preprocessor(batch(channels=4), training=True)
    assert torch.isfinite(model(**data, mode='loss')['loss'])
    cfg['data_preprocessor'].update(mean=[127.5] * 4)
    with pytest.raises(ValueError) as error:
        build(cfg)
    assert str(error.value) == (
        'data_preprocessor.mean must have 1 value (for every channel) or 3 '
        '(one per colour), as mmengine normalises, got 4')


def test_width_and_patch_mismatch_fail_at_build_time():
    cfg = tiny_mae_cfg()
    cfg['neck']['in_channels'] = 48
    with pytest.raises(ValueError, match='neck.in_channels=48'):
        build(cfg)
    cfg = tiny_mae_cfg()
    cfg['head']['patch_size'] = 4
    with pytest.raises(ValueError, match='head.patch_size=4'):
        build(cfg)
    cfg = tiny_mae_cfg()
    cfg['neck']['out_channels'] = 1
    with pytest.raises(ValueError, match='neck.out_channels=1'):
        build(cfg)
    cfg = tiny_mae_cfg()
    cfg['neck']['img_size'] = 64
    with pytest.raises(
            ValueError,
            match=r'neck.img_size=\(64, 64\) does not match '
            r'backbone.img_size=\(32, 32\)'):
        build(cfg)


def test_parts_that_fail_on_the_first_batch_fail_at_build_time():
    """A patch of one value has no variance for ``norm_pix``, and the
    device-crop preprocessor makes 3-channel crops: both failed only on the
    first batch."""
    cfg = tiny_mae_cfg(img_size=8, patch_size=1, in_channels=1)
    with pytest.raises(
            ValueError,
            match=r'^head.norm_pix normalises .* needs at least 2 values, '
            r'but a patch has 1 \(backbone.patch_size=1, '
            r'backbone.in_channels=1\)$'):
        build(cfg)
    build(tiny_mae_cfg(img_size=8, patch_size=1, in_channels=1,
                       norm_pix=False))
    cfg = tiny_mae_cfg(in_channels=1)
    cfg['data_preprocessor'] = dict(
        type='DeviceCropDataPreprocessor', mean=[127.5], std=[64.], scale=32)
    with pytest.raises(
            ValueError,
            match=r'^data_preprocessor \(DeviceCropDataPreprocessor\) makes '
            r'RGB crops of 3 channels, but backbone.in_channels=1$'):
        build(cfg)


def test_inputs_that_are_not_a_batch_of_images_are_named():
    model = build(tiny_mae_cfg()).eval()
    for run in (model.reconstruct, model.predict):
        with pytest.raises(
                ValueError,
                match=r'expected images \[N, 3, H, W\] for in_channels=3, '
                r'got \(3, 32, 32\)'):
            run(torch.randn(3, 32, 32))
        with pytest.raises(
                ValueError, match='image size 32x36 is not a multiple of '
                'patch_size 8'):
            run(torch.randn(2, 3, 32, 36))
    grey = build(tiny_mae_cfg(in_channels=1)).eval()
    with pytest.raises(ValueError) as error:
        grey.reconstruct(torch.randn(2, 3, 32, 32))
    assert str(error.value) == (
        'expected images [N, 1, H, W] for in_channels=1, got (2, 3, 32, 32)'
        "; load grey images (color_type='grayscale' in the pipeline's "
        'loading step)')


def test_an_img_size_the_patch_does_not_divide_is_named_at_build():
    with pytest.raises(ValueError) as error:
        build(tiny_mae_cfg(img_size=36))
    assert str(error.value) == ('img_size 36x36 is not a multiple of '
                                'patch_size 8')


def test_predict_checks_its_inputs_once(monkeypatch):
    """predict checked the inputs itself, to draw the masks of their
    grid, and the backbone checked them again; the masks are now drawn
    in the backbone, after its check, which is the only one."""
    model = build(tiny_mae_cfg()).eval()
    checked = []
    check_images = model.backbone.check_images
    monkeypatch.setattr(
        model.backbone, 'check_images',
        lambda x: checked.append(tuple(x.shape)) or check_images(x))
    model.predict(torch.randn(2, 3, 32, 32))
    assert checked == [(2, 3, 32, 32)]


@pytest.mark.parametrize('dtype', [torch.uint8, torch.int64, torch.bool])
def test_integer_inputs_are_refused_by_name(dtype):
    """Raw pixels (the data preprocessor not run) failed in the patch
    projection with torch's "Input type (unsigned char) and bias type
    (float) should be the same", in every mode."""
    model = build(tiny_mae_cfg()).eval()
    x = batch()['inputs'].to(dtype)  # [2, 3, 32, 32]
    message = ('inputs must be floating-point images (the data '
               'preprocessor converts the loaded uint8 images to float), '
               f'got {dtype}')
    for run in (model.predict, model.backbone, model.extract_feat,
                lambda x: model(x, [DataSample()] * 2, mode='loss')):
        with pytest.raises(TypeError, match=f'^{re.escape(message)}$'):
            run(x)


def test_inputs_of_another_float_dtype_than_the_weights_need_autocast():
    """float64 and half inputs of an fp32 model failed in the patch
    projection as integers did; under autocast (the bf16 runs) a float
    dtype other than float64 is cast as before."""
    model = build(tiny_mae_cfg()).eval()
    x = torch.randn(2, 3, 32, 32)
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        with pytest.raises(TypeError, match=re.escape(
                'inputs must be torch.float32, the dtype of the weights, '
                'outside torch.autocast (which casts float16, bfloat16 and '
                f'float32), got {dtype}')):
            model.predict(x.to(dtype))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        latent = model.backbone(x.half())[0]  # [2, 1 + 4, 32]
        assert latent.dtype == torch.float32  # the final norm's
        with pytest.raises(TypeError, match='got torch.float64$'):
            model.backbone(x.double())
    bf16 = build(tiny_mae_cfg()).eval().to(torch.bfloat16)
    out = bf16.predict(x.bfloat16())[0]
    assert out.reconstruction.dtype == torch.bfloat16
    with pytest.raises(TypeError, match='^inputs must be torch.bfloat16, '):
        bf16.predict(x)


@pytest.mark.parametrize('count', [1, 3])
def test_predict_refuses_data_samples_that_are_not_one_per_image(count):
    """Three data samples for two images raised an IndexError after the
    model ran; one dropped the second image's results silently."""
    model = build(tiny_mae_cfg()).eval()
    samples = [DataSample() for _ in range(count)]
    with pytest.raises(ValueError, match=re.escape(
            'data_samples must be one per image of inputs (2), got '
            f'{count}')):
        model(torch.randn(2, 3, 32, 32), samples, mode='predict')
    assert all('mask' not in sample for sample in samples)


def test_neck_and_head_take_their_dimensions_from_the_backbone():
    cfg = tiny_mae_cfg(img_size=(32, 48), patch_size=4, in_channels=1)
    assert 'patch_size' not in cfg['head']
    assert not {'in_channels', 'img_size', 'patch_size', 'out_channels'} & set(
        cfg['neck'])
    model = build(cfg)
    assert model.neck.in_channels == model.backbone.embed_dims == 32
    assert model.neck.grid_size == (8, 12)
    assert model.neck.patch_size == model.head.patch_size == 4
    assert model.neck.out_channels == 1
    data = model.data_preprocessor(batch(channels=1, size=32), training=True)
    data['inputs'] = torch.randn(2, 1, 32, 48)
    assert torch.isfinite(model(**data, mode='loss')['loss'])


def test_built_parts_are_taken_as_they_are():
    parts = build(tiny_mae_cfg())
    model = MODELS.build(
        dict(
            type='mae_plugin.MAE',
            backbone=parts.backbone,
            neck=parts.neck,
            head=parts.head))
    assert model.neck is parts.neck and model.head is parts.head


def test_mae_config_spells_each_dimension_once():
    cfg = mae_config('large', img_size=112, patch_size=14, mask_ratio=0.6)
    assert cfg['backbone'] == dict(
        type='MAEViT',
        arch='large',
        img_size=112,
        patch_size=14,
        in_channels=3,
        masking=dict(type='RandomMasking', mask_ratio=0.6))
    assert cfg['neck'] == dict(type='MAEDecoder', **DEFAULT_DECODER)
    assert cfg['head'] == dict(type='MAEPixelHead', norm_pix=True)
    assert 'data_preprocessor' not in cfg


def test_mae_config_refuses_the_decoder_norm_twice():
    norm = dict(type='LN', eps=1e-5)
    with pytest.raises(ValueError, match='norm_cfg is given twice'):
        mae_config(decoder=dict(DEFAULT_DECODER, norm_cfg=norm),
                   norm_cfg=norm)
    cfg = mae_config(decoder=dict(DEFAULT_DECODER, norm_cfg=norm))
    assert cfg['neck']['norm_cfg'] == norm


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_reachable_from_other_scopes(scope):
    init_default_scope(scope)
    from mmengine.registry import MODELS as ROOT
    cfg = copy.deepcopy(tiny_mae_cfg()['backbone'])
    cfg['type'] = 'mae_plugin.MAEViT'
    backbone = ROOT.build(cfg)
    latent, _, _ = backbone(torch.randn(1, 3, 32, 32))
    assert latent.shape == (1, 5, 32)
    assert type(backbone).__module__.startswith('mae_plugin')


def test_default_scope_reaches_mmpretrain_modules():
    init_default_scope('mae_plugin')
    vit = MODELS.build(
        dict(
            type='VisionTransformer',
            arch='deit-tiny',
            img_size=32,
            patch_size=8))
    assert type(vit).__module__.startswith('mmpretrain')
    ours = MODELS.build(
        dict(type='MAEViT', arch='deit-small', img_size=32, patch_size=8))
    assert type(ours).__module__.startswith('mae_plugin')


@pytest.mark.parametrize('masking', [
    dict(type='RandomMasking', mask_ratio=0.),
    dict(type='GridMasking', stride=1)
])
def test_masking_that_removes_nothing_needs_loss_on_visible(masking):
    cfg = tiny_mae_cfg()
    cfg['backbone']['masking'] = masking
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(
            ValueError,
            match='backbone.masking .* removes no '
            'patch of the 4x4 grid.*head.loss_on_visible=True'):
        build(cfg)
    cfg['head']['loss_on_visible'] = True
    assert torch.isfinite(build(cfg).loss(x, [])['loss'])


PREDICT_MASKINGS = [
    dict(type='RandomMasking'),
    dict(type='BlockMasking', mask_ratio=0.5, min_num_patches=2),
    dict(type='GridMasking')
]


def predict_noise(model, keys):
    """The masking noise ``predict`` draws for images of those dataset
    indices on a 4x4 grid: each image's own, from a CPU generator seeded
    with ``image_seed(predict_seed, key)``."""
    return torch.cat([
        model.backbone.masking.sample_noise(
            1, (4, 4), 'cpu',
            torch.Generator().manual_seed(
                image_seed(model.predict_seed, key))) for key in keys
    ])


@pytest.mark.parametrize('masking', PREDICT_MASKINGS)
def test_predict_draws_its_masks_on_the_cpu_for_inputs_anywhere(masking):
    """The seeded generators of ``predict`` are CPU ones whose draws move
    to the inputs' device; 'meta' stands in for a GPU, where a generator
    on the inputs' device failed in BlockMasking."""
    cfg = tiny_mae_cfg()
    cfg['backbone']['masking'] = masking
    model = build(cfg).eval()
    x = torch.randn(2, 3, 32, 32)
    expected = model.backbone.masking(
        2, (4, 4), noise=predict_noise(model, [0, 1])).mask
    masks = torch.stack([s.mask for s in model.predict(x)])  # [N, h, w]
    assert torch.equal(masks.flatten(1), expected)
    on_meta = model.to('meta').predict(x.to('meta'))
    assert on_meta[0].mask.device.type == 'meta'
    assert on_meta[0].reconstruction.shape == (3, 32, 32)


def test_an_images_mask_and_metrics_do_not_depend_on_its_batch():
    """``predict`` seeded one generator per batch: an image's mask, so its
    MSE and PSNR, depended on its place in the batch, and the metrics on
    the batch size and the number of processes (1708.6 at batch 16, 1778.2
    at batch 4 for one demo checkpoint)."""
    model = build(tiny_mae_cfg(norm_pix=False)).eval()
    inputs = model.data_preprocessor(batch(n=4), training=False)['inputs']

    def samples(indices):
        out = []
        for index in indices:
            sample = DataSample()
            sample.set_metainfo(dict(sample_idx=index))
            out.append(sample)
        return out

    whole = model.predict(inputs, samples([0, 1, 2, 3]))
    halves = (model.predict(inputs[[3, 2]], samples([3, 2])) +
              model.predict(inputs[[1, 0]], samples([1, 0])))
    for sample in halves:
        same = whole[sample.sample_idx]
        assert torch.equal(sample.mask, same.mask)
        torch.testing.assert_close(sample.masked_mse, same.masked_mse)
    assert len({tuple(s.mask.flatten().tolist()) for s in whole}) == 4
    # without data samples, an image's place in the batch is its key: an
    # image alone gets the mask of the seed itself, as before
    alone = model.predict(inputs[:1])
    generator = torch.Generator().manual_seed(model.predict_seed)
    assert torch.equal(alone[0].mask.flatten(), model.backbone.masking(
        1, (4, 4), generator=generator).mask[0])
    assert torch.equal(alone[0].mask, whole[0].mask)


@pytest.mark.parametrize('seed', [-2**63, 2**64 - 1])
def test_predict_seed_range_is_torchs(seed):
    """Seeds beyond ``manual_seed``'s range were accepted at build time
    and failed at the first validation (``Overflow when unpacking long
    long``)."""
    x = torch.randn(1, 3, 32, 32)
    masks = build(dict(tiny_mae_cfg(), predict_seed=seed)).predict(x)
    assert masks[0].mask.sum() == 12  # 75 % of the 4x4 grid
    outside = seed - 1 if seed < 0 else seed + 1
    with pytest.raises(ValueError, match=r'predict_seed must be an int in '
                       rf'\[{-2**63}, {2**64 - 1}\], got {outside}'):
        build(dict(tiny_mae_cfg(), predict_seed=outside))


def test_train_step_preprocesses_the_inputs_and_passes_the_samples_by():
    from mmengine.optim import OptimWrapper
    model = build(tiny_mae_cfg())
    raw = batch()
    seen = []
    model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs), with_kwargs=True)
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0))
    log_vars = model.train_step(raw, optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    (kwargs, ) = seen
    expected = model.data_preprocessor(copy.deepcopy(raw), training=True)
    torch.testing.assert_close(kwargs['inputs'], expected['inputs'],
                               rtol=0, atol=0)
    # the batch's own samples, not copies made for the device
    assert kwargs['data_samples'] is raw['data_samples']
    assert kwargs['mode'] == 'loss'


def test_training_images_of_another_grid_than_img_size_are_warned_of_once():
    """A model built for 32x32 (4x4 patches) trains on 48x48 crops (a
    config that changed ``model.backbone.img_size`` alone): warned of at
    the first such batch only, and not for crops of its own size."""
    from mmengine.optim import build_optim_wrapper
    from ..test_checkpoint.test_pretrained_init import logged_by
    model = build(tiny_mae_cfg())
    optim_wrapper = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.)))
    warning = ('training images of 48x48 pixels (6x6 patches) differ from '
               'model.backbone.img_size (32, 32) (4x4 patches); the sin-cos '
               'positions follow the images. To train at img_size, set the '
               "training pipeline's crop scale (the data preprocessor's "
               'scale with device crops) to it too')

    def steps(size, n):
        return logged_by(lambda: [
            model.train_step(batch(size=size), optim_wrapper)
            for _ in range(n)])

    assert steps(32, 1) == []
    assert steps(48, 2) == [warning]
    assert steps(48, 1) == []


def test_activation_checkpointing_recomputes_the_blocks_to_the_same_grads():
    """``with_cp`` on the encoder and the decoder: every block runs again
    in the backward pass (its activations were not kept), and the loss and
    gradients are those of the run that keeps them, drop path included
    (torch restores the RNG state for the recomputation). Without
    gradients (evaluation) each block runs once."""
    def step(with_cp):
        cfg = tiny_mae_cfg()
        cfg['backbone'].update(with_cp=with_cp, drop_path_rate=0.5)
        cfg['neck']['with_cp'] = with_cp
        torch.manual_seed(0)
        model = build(cfg)
        blocks = [*model.backbone.layers, *model.neck.decoder_blocks]
        calls = [0]

        def counted(forward):
            def run(*args, **kwargs):
                calls[0] += 1
                return forward(*args, **kwargs)
            return run

        for block in blocks:  # (forward hooks do not see recomputations)
            block.forward = counted(block.forward)
        data = model.data_preprocessor(batch(), training=True)
        torch.manual_seed(1)  # the masks and the drop path
        loss = model(**data, mode='loss')['loss']
        loss.backward()
        runs = calls[0] / len(blocks)
        with torch.no_grad():
            model(**data, mode='loss')
        once = calls[0] / len(blocks) - runs
        grads = {name: p.grad for name, p in model.named_parameters()
                 if p.grad is not None}
        return loss, grads, runs, once

    kept_loss, kept_grads, kept_runs, _ = step(False)
    loss, grads, runs, once = step(True)
    assert (kept_runs, runs, once) == (1, 2, 1)
    torch.testing.assert_close(loss, kept_loss)
    assert grads.keys() == kept_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, kept_grads[name], msg=name)
