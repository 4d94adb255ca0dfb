"""Point 3: bad data is converted or named, never silently used."""
import copy
import logging
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from mmpretrain.datasets import CustomDataset
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mae_plugin.apis import train_config
from mae_plugin.datasets import RobustLoadImageFromFile, UnreadableImageError
from tests.test_engine.utils import (cfg_options, tiny_train_cfg,
                                     unique_experiment)
from tests.test_tools.test_train_test_visualize import (CONFIG, TINY,
                                                        crop_size_overrides)

RNG = np.random.default_rng(0)
BGR = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)

# XMP metadata that says the image is stored turned (orientation 6)
XMP_ORIENTATION_6 = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
    b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def load(path, **kwargs):
    return RobustLoadImageFromFile(**kwargs)(dict(img_path=str(path)))


@pytest.fixture
def bad_files(tmp_path):
    """The three kinds of unreadable file, by name."""
    jpeg = cv2.imencode('.jpg', cv2.resize(BGR, (64, 64)))[1].tobytes()
    files = dict(
        truncated=(jpeg[:len(jpeg) // 2], 'truncated'),
        empty=(b'', 'empty file'),
        not_an_image=(b'name,label\ncat,1\n', 'cannot identify image'))
    paths = {}
    for name, (data, _) in files.items():
        paths[name] = tmp_path / f'{name}.jpg'
        paths[name].write_bytes(data)
    return {name: (paths[name], files[name][1]) for name in files}


def test_colour_png_loads_exactly_in_bgr(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), BGR)
    results = load(tmp_path / 'a.png')
    assert np.array_equal(results['img'], BGR)
    assert results['img_shape'] == results['ori_shape'] == (6, 5)
    assert load(tmp_path / 'a.png', to_float32=True)['img'].dtype == np.float32


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    grey16 = np.array([[0, 257, 32768], [65535, 1000, 40000]], np.uint16)
    colour16 = np.stack([grey16, grey16[::-1], 65535 - grey16], axis=-1)
    cv2.imwrite(str(tmp_path / 'g16.png'), grey16)
    cv2.imwrite(str(tmp_path / 'c16.png'), colour16)
    expected = np.round(grey16 / 257).astype(np.uint8)  # 65535 -> 255
    img = load(tmp_path / 'g16.png')['img']
    assert img.shape == (2, 3, 3) and img.dtype == np.uint8
    for channel in range(3):
        assert np.array_equal(img[..., channel], expected)
    # 16-bit colour: Pillow keeps the high byte (v >> 8)
    img = load(tmp_path / 'c16.png')['img']
    assert np.array_equal(img, (colour16 >> 8).astype(np.uint8))


def test_16_bit_png_keeps_its_transparent_value(tmp_path):
    """A 16-bit grey PNG whose tRNS chunk makes the value 1000 transparent:
    those pixels show the background, the others their 8-bit level
    (1001 too, although it scales to the same level 4)."""
    grey16 = np.array([[0, 1000], [1001, 65535]], np.uint16)
    Image.fromarray(grey16).save(tmp_path / 't.png', transparency=1000)
    assert Image.open(tmp_path / 't.png').info['transparency'] == 1000
    for background in (255, 0):
        img = load(tmp_path / 't.png', background=background,
                   color_type='grayscale')['img']
        assert img.tolist() == [[0, background], [4, 255]]


def test_grey_palette_and_rgba_become_three_channels(tmp_path):
    grey = BGR[..., 0]
    Image.fromarray(grey).save(tmp_path / 'grey.png')
    img = load(tmp_path / 'grey.png')['img']
    assert img.shape == (6, 5, 3)
    assert all(np.array_equal(img[..., c], grey) for c in range(3))
    assert np.array_equal(
        load(tmp_path / 'grey.png', color_type='grayscale')['img'], grey)

    rgb = BGR[..., ::-1]
    Image.fromarray(rgb).convert('P').save(tmp_path / 'palette.png')
    palette = Image.open(tmp_path / 'palette.png').convert('RGB')
    assert np.array_equal(
        load(tmp_path / 'palette.png')['img'], np.asarray(palette)[..., ::-1])

    alpha = np.zeros((6, 5), np.uint8)
    alpha[:3] = 255  # top half opaque, bottom half transparent
    alpha[3, 0] = 128
    Image.fromarray(np.dstack([rgb, alpha]), 'RGBA').save(tmp_path / 'a.png')
    img = load(tmp_path / 'a.png')['img']
    assert np.array_equal(img[:3], BGR[:3])  # opaque: unchanged
    assert (img[4:] == 255).all()  # transparent: the white background
    blended = (BGR[3, 0].astype(int) * 128 + 255 * 127) / 255
    assert np.abs(img[3, 0] - blended).max() <= 1
    assert (load(tmp_path / 'a.png', background=0)['img'][4:] == 0).all()


def test_png_orientation_is_read_from_exif_not_xmp(tmp_path):
    """A PNG turned by its EXIF text (orientation 6) is shown upright; one
    whose only orientation is XMP's is not turned (as in JPEGs, where
    OpenCV ignores XMP)."""
    rgb = BGR[..., ::-1]
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = exif.tobytes()
    text = PngInfo()
    text.add_text('Raw profile type exif',
                  f'\nexif\n{len(raw):8}\n{raw.hex()}\n')
    xmp = PngInfo()
    xmp.add_itxt('XML:com.adobe.xmp', XMP_ORIENTATION_6.decode())
    for name, info in (('text.png', text), ('xmp.png', xmp)):
        Image.fromarray(rgb).save(tmp_path / name, pnginfo=info)
        assert Image.open(tmp_path / name).getexif()[0x0112] == 6
    turned = np.rot90(BGR, -1)  # a quarter turn clockwise, [5, 6, 3]
    assert np.array_equal(load(tmp_path / 'text.png')['img'], turned)
    assert np.array_equal(load(tmp_path / 'xmp.png')['img'], BGR)


@pytest.mark.parametrize('kind', ['truncated', 'empty', 'not_an_image'])
def test_unreadable_file_raises_naming_it(kind, bad_files):
    path, problem = bad_files[kind]
    with pytest.raises(UnreadableImageError) as error:
        load(path)
    assert str(path) in str(error.value) and problem in str(error.value)
    # OpenCV would have returned a half-grey picture for the truncated JPEG
    if kind == 'truncated':
        assert cv2.imread(str(path)) is not None


def test_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        load(tmp_path / 'gone.jpg')


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='on_error must be one of'):
        RobustLoadImageFromFile(on_error='ignore')
    with pytest.raises(ValueError, match='color_type must be one of'):
        RobustLoadImageFromFile(color_type='unchanged')
    with pytest.raises(ValueError, match='background must be an int'):
        RobustLoadImageFromFile(background=300)
    # the string 'False' was truthy: the images came out as float32
    with pytest.raises(TypeError, match='to_float32 must be True or False'):
        RobustLoadImageFromFile(to_float32='False')


class Messages(logging.Handler):
    """Collects the messages logged to it."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_skip_mode_counts_every_skip_and_warns_once_per_file(
        bad_files, tmp_path):
    cv2.imwrite(str(tmp_path / 'good.png'), BGR)
    transform = RobustLoadImageFromFile(on_error='skip')
    logger, handler = MMLogger.get_current_instance(), Messages()
    logger.addHandler(handler)
    try:
        for _ in range(2):
            for path, _ in bad_files.values():
                assert transform(dict(img_path=str(path))) is None
            assert transform(dict(img_path=str(tmp_path / 'good.png')))
    finally:
        logger.removeHandler(handler)
    warnings = '\n'.join(handler.messages)
    for path, _ in bad_files.values():
        assert warnings.count(f'skipping unreadable image {path}') == 1
    assert transform.pop_num_skipped() == 6
    assert transform.pop_num_skipped() == 0

    # in a dataset, a skipped sample is replaced by a readable one
    dataset = CustomDataset(
        data_root=str(tmp_path), data_prefix='', with_label=False,
        pipeline=[transform, dict(type='PackInputs')])
    assert len(dataset) == 4
    for i in range(4):
        assert dataset[i]['inputs'].shape == (3, 6, 5)
    assert transform.pop_num_skipped() >= 3
    test_set = CustomDataset(
        data_root=str(tmp_path), data_prefix='', with_label=False,
        test_mode=True, pipeline=[transform])
    with pytest.raises(Exception, match='should not get `None`'):
        [test_set[i] for i in range(4)]


def test_deep_copies_share_the_skip_count_and_pickles_start_afresh(
        bad_files, tmp_path):
    bad = dict(img_path=str(bad_files['empty'][0]))
    transform = RobustLoadImageFromFile(on_error='skip')
    copied = copy.deepcopy(transform)
    assert copied(dict(bad)) is None and transform(dict(bad)) is None
    assert transform.pop_num_skipped() == 2  # the copy's skip counted
    assert copied.pop_num_skipped() == 0

    # a dataset's subset deep-copies its pipeline
    cv2.imwrite(str(tmp_path / 'good.png'), BGR)
    dataset = CustomDataset(
        data_root=str(tmp_path), data_prefix='', with_label=False,
        pipeline=[transform])
    subset = dataset.get_subset([0, 1])  # empty.jpg, good.png
    assert subset.get_data_info(0)['img_path'] == bad['img_path']
    assert subset[0]['img_path'] == str(tmp_path / 'good.png')
    assert transform.pop_num_skipped() >= 1

    # outside a process start, a pickled loader gets a count of its own
    unpickled = pickle.loads(pickle.dumps(transform))
    assert unpickled(dict(bad)) is None
    assert unpickled.pop_num_skipped() == 1
    assert transform.pop_num_skipped() == 0


@pytest.mark.parametrize('context', ['fork', 'spawn'])
def test_skips_in_worker_processes_are_counted_by_the_parent(
        context, bad_files):
    transform = RobustLoadImageFromFile(on_error='skip')
    samples = [dict(img_path=str(path)) for path, _ in bad_files.values()]
    # collate_fn is applied to each sample in the worker processes
    loader = torch.utils.data.DataLoader(
        samples, batch_size=None, num_workers=2, collate_fn=transform,
        multiprocessing_context=context)
    assert list(loader) == [None] * 3
    assert transform.pop_num_skipped() == 3


def write_photos(folder, count):
    for i in range(count):
        img = cv2.resize(RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8),
                         (40, 40))
        cv2.imwrite(osp.join(folder, f'ok_{i}.png'), img)


def test_training_reports_skipped_images_per_epoch_across_workers(
        bad_files, tmp_path, capfd):
    root = osp.dirname(bad_files['empty'][0])
    write_photos(root, 5)
    cfg = tiny_train_cfg(
        root, str(tmp_path / 'work'), 'train_cfg.max_epochs=2',
        'train_dataloader.num_workers=2',
        'train_dataloader.dataset.dataset.pipeline.0.on_error=skip',
        # the demo's reconstruction figures read the same folder
        'custom_hooks.0.dataset.pipeline.0.on_error=skip')
    Runner.from_cfg(cfg).train()
    log = ''.join(capfd.readouterr())
    for epoch in (1, 2):
        # the count is gathered from both worker processes
        counts = [int(line.split(f'epoch {epoch}: skipped ')[1].split()[0])
                  for line in log.splitlines()
                  if f'epoch {epoch}: skipped ' in line]
        assert len(counts) == 1 and counts[0] >= 3, log[-3000:]
    for path, _ in bad_files.values():
        assert f'skipping unreadable image {path}' in log


def test_validation_and_test_report_their_skipped_images(
        bad_files, tmp_path, capfd):
    """The demo's validation and test sets (not in test mode) replace a
    skipped image with another: the hook names the count and that the
    replacements count twice."""
    root = osp.dirname(bad_files['empty'][0])
    write_photos(root, 5)
    cfg = unique_experiment(train_config(
        CONFIG, work_dir=str(tmp_path / 'work'), cfg_options=cfg_options(
            TINY + crop_size_overrides(root) + [
                'val_dataloader.dataset.pipeline.0.on_error=skip',
                'test_dataloader.dataset.pipeline.0.on_error=skip'])))
    runner = Runner.from_cfg(cfg)
    for stage, run in (('validation', runner.val), ('test', runner.test)):
        run()
        log = capfd.readouterr().out
        counts = [int(line.split(f'{stage}: skipped ')[1].split()[0])
                  for line in log.splitlines()
                  if f'{stage}: skipped ' in line]
        assert len(counts) == 1 and counts[0] >= 3, log[-3000:]
        assert 'which its metrics count twice' in log


@pytest.mark.parametrize('folder', ['missing', 'empty'])
def test_missing_or_empty_data_root_is_named(folder, tmp_path):
    root = tmp_path / folder
    if folder == 'empty':
        root.mkdir()
    cfg = tiny_train_cfg(str(root), str(tmp_path / 'work'))
    with pytest.raises((FileNotFoundError, RuntimeError)) as error:
        Runner.from_cfg(cfg).train()
    assert str(root) in str(error.value)
