"""DecodeRandomResizedCrop(antialias=True): the crops of torchvision's
RandomResizedCrop on PIL images (the official MAE code's), from the same
crop distribution and decoding as the OpenCV resampling; with
antialias_backend='torch', the same within a rounding."""
import cv2
import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from mae_plugin.datasets import DecodeRandomResizedCrop
from mae_plugin.datasets.transforms import random_resized_crop_params
from mae_plugin.datasets.transforms.box_resize import resize_box_antialiased
from ..conftest import ROOT


@pytest.fixture
def noise_png(tmp_path):
    """Fine detail that a shrinking crop aliases; lossless, so that PIL and
    OpenCV decode the same pixels."""
    rng = np.random.default_rng(0)
    path = str(tmp_path / 'noise.png')
    cv2.imwrite(path, rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
    return path


def crop(path, seed, **kwargs):
    np.random.seed(seed)
    transform = DecodeRandomResizedCrop(32, (0.2, 1.0), **kwargs)
    img = transform(dict(img_path=path))['img'][..., ::-1]  # RGB
    return img, transform


@pytest.mark.parametrize('seed', range(4))
def test_antialiased_crop_is_torchvision_on_pil(noise_png, seed):
    ours, _ = crop(noise_png, seed, antialias=True)
    with Image.open(noise_png) as image:
        np.random.seed(seed)
        box = random_resized_crop_params(image.height, image.width, (0.2, 1.0))
        expected = np.asarray(
            F.resized_crop(
                image.convert('RGB'), *box, [32, 32],
                InterpolationMode.BICUBIC))
    np.testing.assert_array_equal(ours, expected)
    # OpenCV's bicubic shrinking of the same box aliases the noise
    opencv, _ = crop(noise_png, seed)
    assert np.abs(opencv.astype(float) - expected).mean() > 5


@pytest.mark.parametrize('interpolation', ['bicubic', 'bilinear'])
def test_torch_backend_is_pil_within_a_rounding(noise_png, interpolation):
    for seed in range(6):
        pil, _ = crop(noise_png, seed, antialias=True,
                      interpolation=interpolation)
        ours, transform = crop(noise_png, seed, antialias=True,
                               interpolation=interpolation,
                               antialias_backend='torch')
        assert transform.decode_factors == {1: 1}
        assert ours.shape == pil.shape == (32, 32, 3)
        assert ours.dtype == np.uint8
        diff = np.abs(ours.astype(int) - pil)
        # PIL's filters, torch's weights in fixed point: values
        # apart by a rounding (here at most 1, a few in a thousand; on the
        # photos of docs/crop_resize.md up to 7, 3.3% of the values)
        assert diff.max() <= 5 and diff.mean() < 0.05
        # where OpenCV's resampling of the same box is levels away
        opencv, _ = crop(noise_png, seed, interpolation=interpolation)
        assert np.abs(opencv.astype(int) - pil).mean() > 5


def test_torch_backend_leaves_boxes_between_pixels_to_pil():
    """A box between pixels (of a reduced decode), where torch's
    interpolate cannot start, is PIL's, value for value; one on whole
    pixels is torch's."""
    img = np.random.default_rng(2).integers(0, 256, (80, 100, 3), np.uint8)
    for box in [(10.5, 3.25, 90.5, 63.75), (0.5, 0, 100, 80)]:
        np.testing.assert_array_equal(
            resize_box_antialiased(img, box, (32, 24), backend='torch'),
            resize_box_antialiased(img, box, (32, 24)))
    whole = [resize_box_antialiased(img, (10, 3, 90, 63), (32, 24),
                                    backend=backend)
             for backend in ('pillow', 'torch')]
    diff = np.abs(whole[0].astype(int) - whole[1])
    assert 0 < diff.max() <= 5


def test_grey_crops_with_the_torch_backend(noise_png):
    pil, _ = crop(noise_png, 0, antialias=True, color_type='grayscale')
    ours, _ = crop(noise_png, 0, antialias=True, color_type='grayscale',
                   antialias_backend='torch')
    assert ours.shape == pil.shape == (32, 32)
    assert np.abs(ours.astype(int) - pil).max() <= 5


@pytest.mark.parametrize('kwargs, names', [
    (dict(antialias_backend='cv2'), 'antialias_backend'),
    (dict(antialias_backend='torch', interpolation='area'),
     "antialias_backend='torch'.*interpolation='area'"),
])
def test_bad_antialias_backend_is_named(kwargs, names):
    with pytest.raises(ValueError, match=names):
        DecodeRandomResizedCrop(32, antialias=True, **kwargs)


def test_same_crops_and_decode_sizes_as_opencv_resampling(tmp_path):
    path = str(tmp_path / 'large.jpg')
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    cv2.imwrite(path, cv2.resize(small, (400, 300)))
    for seed in range(8):
        _, plain = crop(path, seed)
        state = np.random.get_state()[1].copy()
        _, antialiased = crop(path, seed, antialias=True)
        # the same draws, hence the same box, at the same decode size
        np.testing.assert_array_equal(np.random.get_state()[1], state)
        assert antialiased.decode_factors == plain.decode_factors
    _, full = crop(path, 0, antialias=True, max_decode_factor=1)
    assert full.decode_factors == {1: 1}


def test_bad_max_decode_factor_is_named():
    with pytest.raises(ValueError, match='max_decode_factor'):
        DecodeRandomResizedCrop(32, max_decode_factor=3)


@pytest.mark.parametrize('config', [
    'mae/mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py',
    'mae/ablations/mae_vit-large-p16_aug-color-jitter_8xb512-amp-coslr-'
    '800e_in1k.py',
])
def test_imagenet_pretraining_crops_antialias(config):
    cfg = Config.fromfile(f'{ROOT}/configs/{config}')
    crop_cfg = cfg.train_dataloader.dataset.pipeline[0]
    assert crop_cfg.type == 'DecodeRandomResizedCrop' and crop_cfg.antialias
    assert crop_cfg.antialias_backend == 'torch'


@pytest.mark.parametrize('box,backend', [((3, 5, 40, 61), 'pillow'),
                                         ((3.5, 5, 40, 61), 'pillow'),
                                         ((3.5, 5, 40, 61), 'torch'),
                                         ((3, 5, 40, 61), 'torch')])
def test_resized_crops_are_writable(box, backend):
    """Transforms after the crop write in place (mmpretrain's
    ``RandomErasing`` failed with 'assignment destination is read-only'
    on PIL's crops, those of a fractional box with either backend)."""
    img = np.random.default_rng(0).integers(0, 256, (64, 48, 3), np.uint8)
    out = resize_box_antialiased(img, box, (16, 16), backend=backend)
    assert out.flags.writeable
    out[:4, :4] = 0  # what RandomErasing does
