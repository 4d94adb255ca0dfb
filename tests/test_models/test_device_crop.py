"""DeviceCropDataPreprocessor (on the CPU here, its fallback): the crops
of the CPU pipeline from deferred-crop batches, the file named when the
decoder refuses it."""
import numpy as np
import pytest
import torch
from mmcv.transforms import RandomFlip
from mmengine.dataset import default_collate
from mmengine.optim import OptimWrapper
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.models.utils import SelfSupDataPreprocessor

from mae_plugin.datasets import (DecodeRandomResizedCrop,
                                 DeferredRandomResizedCrop, PackDeferredCrop,
                                 deferred_crop_collate)
from mae_plugin.models import DeviceCropDataPreprocessor
from mae_plugin.registry import MODELS
from ..conftest import tiny_mae_cfg
from ..test_datasets import test_deferred_crop
from .test_mae import build

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
KINDS = ['jpeg', 'png', 'grey', 'rotated', 'mpo']
files = test_deferred_crop.files  # fixture: the five images, by kind
run = test_deferred_crop.run


def batches(files, out, to_rgb=True, box=None, **crop):
    """The same five images through the CPU pipeline (its crops resampled
    by PIL, SelfSupDataPreprocessor) and the deferred one, seed by seed:
    both preprocessed ``[5, 3, out, out]`` batches. ``box`` forces every
    crop's ``(top, left, h, w)``."""
    cpu_crop = DecodeRandomResizedCrop(out, antialias=True, **crop)
    deferred = DeferredRandomResizedCrop(**crop)
    if box is not None:
        cpu_crop.crop_params = deferred.crop_params = lambda h, w: box
    cpu = [cpu_crop, RandomFlip(prob=0.5), PackInputs()]
    device = [deferred, PackDeferredCrop()]
    norm = dict(NORM, to_rgb=to_rgb)
    expected = SelfSupDataPreprocessor(**norm)(
        default_collate([run(cpu, files[k], i) for i, k in enumerate(KINDS)]))
    batch = deferred_crop_collate(
        [run(device, files[k], i) for i, k in enumerate(KINDS)])
    preprocessor = DeviceCropDataPreprocessor(scale=out, **norm)
    return expected['inputs'], preprocessor(batch)['inputs']


def levels(normalised: torch.Tensor) -> torch.Tensor:
    """Preprocessed RGB values back in levels 0-255."""
    std = torch.tensor(NORM['std'])[:, None, None]
    mean = torch.tensor(NORM['mean'])[:, None, None]
    return normalised * std + mean


@pytest.mark.parametrize('to_rgb', [True, False])
def test_crops_without_resampling_are_the_decoded_pixels(files, to_rgb):
    """A 32x32 box resampled to 32x32: the decoded pixels exactly, cut at
    the same place, flipped alike and in the same channel order as the
    CPU pipeline's (libjpeg-turbo decodes alike through OpenCV and
    torchvision)."""
    expected, crops = batches(files, 32, to_rgb, box=(5, 7, 32, 32))
    assert crops.shape == expected.shape == (5, 3, 32, 32)
    assert torch.allclose(crops, expected, atol=1e-5)


def test_resampled_crops_match_the_cpu_pipeline(files):
    """Random crops of 60-120 pixels resampled to 48: the antialiased
    bicubic in float against PIL's in fixed point with a rounding between
    its two passes; most values equal, the others a few levels apart."""
    expected, crops = batches(files, 48, crop_ratio_range=(0.2, 1.0))
    difference = (levels(crops) - levels(expected)).round().abs()
    assert difference.mean() < 0.5
    assert (difference == 0).float().mean() > 0.6
    assert difference.max() <= 12


def test_image_batches_are_preprocessed_as_by_the_parent():
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    data = dict(inputs=images, data_samples=None)
    ours = MODELS.build(
        dict(type='DeviceCropDataPreprocessor', to_rgb=True, **NORM))(
            data)
    theirs = SelfSupDataPreprocessor(to_rgb=True, **NORM)(data)
    assert torch.equal(ours['inputs'], theirs['inputs'])


def broken_batch(files, tmp_path):
    """A batch of a good JPEG and one whose Huffman table is impossible
    (its header and end marker intact)."""
    data = bytearray(open(files['jpeg'], 'rb').read())
    table = data.find(b'\xff\xc4')
    data[table + 5:table + 21] = b'\xff' * 16  # codes per length
    bad = tmp_path / 'bad_table.jpg'
    bad.write_bytes(data)
    pipeline = [DeferredRandomResizedCrop(), PackDeferredCrop()]
    return deferred_crop_collate(
        [run(pipeline, path, 0) for path in (files['jpeg'], str(bad))])


def test_file_the_decoder_refuses_is_named(files, tmp_path):
    batch = broken_batch(files, tmp_path)
    with pytest.raises(RuntimeError, match='bad_table.jpg: the JPEG decoder'):
        DeviceCropDataPreprocessor(**NORM)(batch)


def test_box_outside_its_image_is_named(files):
    pipeline = [DeferredRandomResizedCrop(), PackDeferredCrop()]
    batch = deferred_crop_collate([run(pipeline, files['jpeg'], 0)])
    batch['inputs']['boxes'][0] = torch.tensor([80, 0, 20, 20])  # 90 rows
    with pytest.raises(ValueError, match='colour.jpg: crop box'):
        DeviceCropDataPreprocessor(**NORM)(batch)


@pytest.mark.parametrize('key, value', [('interpolation', 'nearest'),
                                        ('scale', 0)])
def test_bad_arguments_are_named(key, value):
    with pytest.raises(ValueError, match=key):
        DeviceCropDataPreprocessor(**{key: value})


def test_mae_trains_on_deferred_crops(files):
    """A training step of MAE whose preprocessor makes the crops: the
    model sees the normalised crops."""
    cfg = tiny_mae_cfg()
    cfg['data_preprocessor'] = dict(
        type='DeviceCropDataPreprocessor', scale=32, to_rgb=True, **NORM)
    model = build(cfg)
    pipeline = [DeferredRandomResizedCrop(), PackDeferredCrop()]
    batch = deferred_crop_collate(
        [run(pipeline, files[k], i) for i, k in enumerate(KINDS)])
    seen = []
    model.backbone.register_forward_pre_hook(
        lambda module, args: seen.append(args[0]))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.)
    log = model.train_step(batch, OptimWrapper(optimizer))
    assert np.isfinite(log['loss'].item())
    crops = model.data_preprocessor(batch)['inputs']
    assert torch.equal(seen[0], crops)
