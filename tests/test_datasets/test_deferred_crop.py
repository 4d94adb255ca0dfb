"""DeferredRandomResizedCrop, PackDeferredCrop and deferred_crop_collate:
the crops and flips of the CPU pipeline, file bytes for the device
decoder, the worker's own crops of files it is not given."""
import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import RandomFlip
from mmengine.registry import FUNCTIONS
from scipy.stats import ks_2samp

from mae_plugin.datasets import (DecodeRandomResizedCrop,
                                 DeferredRandomResizedCrop, PackDeferredCrop,
                                 UnreadableImageError, decode_image,
                                 deferred_crop_collate)
from mae_plugin.registry import TRANSFORMS
from .test_fused_crop import (crop_statistics, mmpretrain_crop, photo,
                              save_with_orientation, write_jpeg, write_mpo)
from .test_loading import bad_files  # noqa: F401 (fixture)

RANGE = dict(crop_ratio_range=(0.2, 1.0))


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A colour JPEG, a grey JPEG, a PNG, a JPEG stored turned a quarter
    (EXIF orientation 6) and a two-picture MPO, by kind."""
    root = tmp_path_factory.mktemp('deferred')
    paths = dict(
        jpeg=write_jpeg(root / 'colour.jpg', photo('astronaut', (120, 90))),
        grey=write_jpeg(
            root / 'grey.jpg',
            cv2.cvtColor(photo('coffee', (80, 100)), cv2.COLOR_BGR2GRAY)),
        png=str(root / 'a.png'),
        rotated=str(root / 'rotated.jpg'),
        mpo=write_mpo(root / 'camera.jpg', photo('coffee', (96, 72))))
    cv2.imwrite(paths['png'], photo('chelsea', (70, 60)))
    save_with_orientation(photo('rocket', (64, 96)), paths['rotated'], 6)
    return paths


def run(pipeline, path: str, seed: int) -> dict:
    np.random.seed(seed)
    results = dict(img_path=path)
    for transform in pipeline:
        results = transform(results)
    return results


def cpu_pipeline(boxes: list):
    """DecodeRandomResizedCrop (recording its boxes) and RandomFlip."""
    crop = DecodeRandomResizedCrop(32, **RANGE)
    draw = crop.crop_params

    def recorded(height, width):
        boxes.append(draw(height, width))
        return boxes[-1]

    crop.crop_params = recorded
    return [crop, RandomFlip(prob=0.5)]


@pytest.mark.parametrize('kind', ['jpeg', 'grey', 'png', 'rotated', 'mpo'])
def test_same_crops_and_flips_as_the_cpu_pipeline(files, kind):
    """Seed by seed, the box and flip of DecodeRandomResizedCrop followed
    by RandomFlip; upright JPEGs stay bytes, the others are the CPU
    decode's crop in RGB."""
    path = files[kind]
    boxes = []
    cpu = cpu_pipeline(boxes)
    deferred = DeferredRandomResizedCrop(**RANGE)
    with open(path, 'rb') as f:
        data = f.read()
    decoded = decode_image(data, path)  # BGR [H, W, 3], orientation applied
    flips = []
    for seed in range(30):
        expected = run(cpu, path, seed)
        results = run([deferred], path, seed)
        top, left, height, width = boxes[-1]
        assert results['flip'] == expected['flip']
        flips.append(results['flip'])
        assert results['ori_shape'] == decoded.shape[:2]
        if kind in ('jpeg', 'grey', 'mpo'):
            assert 'pixels' not in results
            assert results['jpeg'].tobytes() == data
            assert results['crop_box'] == (top, left, height, width)
        else:
            assert 'jpeg' not in results
            assert results['crop_box'] == (0, 0, height, width)
            np.testing.assert_array_equal(
                results['pixels'], decoded[top:top + height,
                                           left:left + width, ::-1])
    assert 0 < sum(flips) < len(flips)


def test_crop_distribution_is_mmpretrains(files):
    """4000 crops drawn from a JPEG's header against 4000 of mmpretrain's
    RandomResizedCrop on the decoded image (independent seeds): two-sample
    KS tests on area, aspect ratio and centre."""
    transform = DeferredRandomResizedCrop(**RANGE)
    np.random.seed(1)
    drawn = [
        transform(dict(img_path=files['jpeg']))['crop_box']
        for _ in range(4000)
    ]
    decoded = cv2.imread(files['jpeg'])
    reference = mmpretrain_crop(scale=32, **RANGE)
    np.random.seed(2)
    theirs = [reference.rand_crop_params(decoded) for _ in range(4000)]
    ours = crop_statistics(drawn, *decoded.shape[:2])
    theirs = crop_statistics(theirs, *decoded.shape[:2])
    for key in ours:
        assert ks_2samp(ours[key], theirs[key]).pvalue > 1e-3, key


@pytest.mark.parametrize('prob, low, high', [(0., 0, 0), (1., 400, 400),
                                             (0.5, 150, 250)])
def test_flip_probability(files, prob, low, high):
    # 0.5: Binomial(400, 0.5) leaves [150, 250] with probability < 1e-6
    transform = DeferredRandomResizedCrop(flip_prob=prob)
    np.random.seed(0)
    flips = sum(
        transform(dict(img_path=files['png']))['flip'] for _ in range(400))
    assert low <= flips <= high


@pytest.mark.parametrize('key, value', [('flip_prob', 1.5),
                                        ('crop_ratio_range', (0.5, 2.)),
                                        ('max_attempts', -1)])
def test_bad_arguments_are_named(key, value):
    with pytest.raises(ValueError, match=key):
        DeferredRandomResizedCrop(**{key: value})


def test_unreadable_files_are_named_or_skipped(bad_files):  # noqa: F811
    raising = DeferredRandomResizedCrop()
    skipping = DeferredRandomResizedCrop(on_error='skip')
    for path, reason in bad_files.values():
        with pytest.raises(UnreadableImageError, match=reason) as error:
            raising(dict(img_path=str(path)))
        assert str(path) in str(error.value)
        assert skipping(dict(img_path=str(path))) is None
    assert skipping.pop_num_skipped() == len(bad_files)


def test_collate_packs_a_batch_into_few_tensors(files):
    pipeline = [
        TRANSFORMS.build(dict(type='DeferredRandomResizedCrop')),
        TRANSFORMS.build(dict(type='PackDeferredCrop'))
    ]
    order = ['jpeg', 'png', 'grey', 'rotated']
    samples = [run(pipeline, files[kind], i) for i, kind in enumerate(order)]
    collate = FUNCTIONS.get('mae_plugin.deferred_crop_collate')
    assert collate is deferred_crop_collate
    batch = collate(samples)
    inputs = batch['inputs']
    jpegs = [open(files[kind], 'rb').read() for kind in ('jpeg', 'grey')]
    assert inputs['jpeg_bytes'].numpy().tobytes() == b''.join(jpegs)
    assert inputs['jpeg_sizes'].tolist() == [len(j) for j in jpegs]
    assert inputs['from_jpeg'].tolist() == [True, False, True, False]
    crops = [s['inputs']['pixels'] for s in samples[1::2]]
    assert inputs['pixel_shapes'].tolist() == [
        list(c.shape[:2]) for c in crops
    ]
    assert torch.equal(inputs['pixels'],
                       torch.cat([c.reshape(-1) for c in crops]))
    boxes = [list(s['inputs']['crop_box']) for s in samples]
    assert inputs['boxes'].tolist() == boxes
    assert inputs['flips'].tolist() == [s['inputs']['flip'] for s in samples]
    assert inputs['paths'] == [files[kind] for kind in order]
    for sample, kind in zip(batch['data_samples'], order):
        assert sample.img_path == files[kind]
        assert list(sample.crop_box) in boxes


def test_collate_of_jpegs_only_has_empty_pixels(files):
    pipeline = [DeferredRandomResizedCrop(), PackDeferredCrop()]
    batch = deferred_crop_collate(
        [run(pipeline, files['jpeg'], seed) for seed in range(3)])
    assert batch['inputs']['pixels'].shape == (0, )
    assert batch['inputs']['pixel_shapes'].shape == (0, 2)
    assert batch['inputs']['boxes'].shape == (3, 4)
