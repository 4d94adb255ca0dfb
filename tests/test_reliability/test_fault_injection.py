"""The faults an adversarial user found (issue 18), kept together so that
no change brings one back. Every input is generated here; nothing is
downloaded. Each test names its case from the issue."""
import glob
import io
import logging
import os
import os.path as osp
import re
import struct
import zipfile

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint
from PIL import Image

from mae_plugin.apis import test_config as make_test_config
from mae_plugin.apis import list_images, train_config
from mae_plugin.datasets import (IMAGE_EXTENSIONS, RobustLoadImageFromFile,
                                 UnreadableImageError, decode_image)
from mae_plugin.checkpoint import (convert_to_official_mae,
                                   load_checkpoint_safely)
from mae_plugin.datasets.transforms.loading import printable
from mae_plugin.registry import DATASETS, MODELS, TRANSFORMS
from tests.conftest import tiny_mae_cfg
from tests.test_engine.utils import (cfg_options,
                                     checkpoint_every_iteration_runner,
                                     unique_experiment)
from tests.test_tools.test_train_test_visualize import (CONFIG, TINY,
                                                        crop_size_overrides)


class ListHandler(logging.Handler):
    """Keeps the formatted messages of a logger."""

    def __init__(self, lines):
        super().__init__()
        self.lines = lines

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_1_an_update_to_nan_weights_is_never_saved_or_called_good(
        photos, tmp_path):
    """Case 1: a finite loss whose update overflows the weights (lr=1e45)
    used to be saved as iter_1.pth and named the last good checkpoint."""
    work = str(tmp_path / 'work')
    runner = checkpoint_every_iteration_runner(
        photos, work, 2, 'optim_wrapper.optimizer.lr=1e45',
        'param_scheduler=[]')
    with pytest.raises(FloatingPointError) as error:
        runner.train()
    message = str(error.value)
    assert re.search(
        r'non-finite values in \d+ tensor\(s\) of the checkpoint at '
        r'iteration 1 \(epoch 0\), the first \(NaN/Inf count\): '
        r'state_dict\.\S+ \(\d+\)', message), message
    assert message.endswith('the last good checkpoint is none (none saved '
                            'yet)'), message
    # nothing on disk (the first checkpoint was the non-finite one), no
    # pointer to a checkpoint never written
    assert glob.glob(osp.join(work, '*.pth')) == []
    assert not osp.exists(osp.join(work, 'last_checkpoint'))


@pytest.fixture(scope='module')
def trained(photos, tmp_path_factory):
    """A checkpoint of the tiny demo run after 2 iterations."""
    work = str(tmp_path_factory.mktemp('trained'))
    checkpoint_every_iteration_runner(photos, work, 1).train()
    return osp.join(work, 'iter_2.pth')


def resume_runner(photos, work, checkpoint, *overrides, **kwargs):
    cfg = train_config(
        CONFIG,
        work_dir=work,
        resume=checkpoint,
        no_validate=True,
        cfg_options=cfg_options(TINY + crop_size_overrides(photos) +
                                ['train_cfg.max_epochs=2', *overrides]),
        **kwargs)
    return Runner.from_cfg(unique_experiment(cfg))


def evaluation_runner(photos, work, checkpoint, **kwargs):
    cfg = make_test_config(
        CONFIG,
        checkpoint,
        work_dir=work,
        cfg_options=cfg_options(TINY + crop_size_overrides(photos)),
        **kwargs)
    return Runner.from_cfg(unique_experiment(cfg))


def test_2_resume_and_test_refuse_tensors_that_do_not_fit(
        photos, trained, tmp_path):
    """Case 2: a wrong-shaped tensor kept its random initialisation and
    resume / test went on with exit code 0."""
    ckpt = torch.load(trained, weights_only=True)
    ckpt['state_dict']['neck.decoder_pred.weight'] = torch.zeros(7, 16)
    wrong = str(tmp_path / 'wrong.pth')
    torch.save(ckpt, wrong)
    expected = (
        r'checkpoint .*wrong\.pth does not fit the model: 1 tensor\(s\) of '
        r'another shape \(neck\.decoder_pred\.weight: checkpoint \(7, 16\) vs '
        r'model \(192, 16\)\)\. .*--allow-partial-checkpoint')
    with pytest.raises(ValueError, match=expected):
        resume_runner(photos, str(tmp_path / 'a'), wrong).train()
    with pytest.raises(ValueError, match=expected):
        evaluation_runner(photos, str(tmp_path / 'b'), wrong).test()
    # the opt-in loads what fits
    metrics = evaluation_runner(
        photos, str(tmp_path / 'c'), wrong,
        allow_partial_checkpoint=True).test()
    assert metrics['reconstruction/mse'] > 0


def test_3_a_state_dict_is_not_resumable(photos, trained, tmp_path):
    """Case 3, last part: a state-dict-only file given to --resume gave
    KeyError: 'meta'. A training checkpoint without the optimizer (as the
    Fashion-MNIST configs keep every epoch's but the newest) named the
    file, not the setting."""
    weights = str(tmp_path / 'weights.pth')
    torch.save(torch.load(trained, weights_only=True)['state_dict'], weights)
    without = str(tmp_path / 'epoch_1.pth')
    checkpoint = load_checkpoint_safely(trained)
    del checkpoint['optimizer']
    torch.save(checkpoint, without)
    for path, message in (
        (weights, r"weights\.pth cannot be resumed: it has no 'meta', "
         r"'state_dict', 'optimizer' \(a state dict of weights only\?\)"),
        (without, r"epoch_1\.pth cannot be resumed: it has no 'optimizer' "
         r"\(training wrote it with default_hooks\.checkpoint\."
         r"save_optimizer=False, or with 'latest' and this is not the "
         r"newest checkpoint\)")):
        with pytest.raises(ValueError, match=message + '.*load_from'):
            resume_runner(photos, str(tmp_path / 'a'), path).train()
    # it still tests: every tensor fits
    metrics = evaluation_runner(photos, str(tmp_path / 'b'), weights).test()
    assert metrics['reconstruction/mse'] > 0


def test_3_an_official_layout_checkpoint_names_the_converter(
        photos, trained, tmp_path):
    """The official MAE layout of the same weights was refused with the
    keys it misses only, not the converter that reads it. A training run
    that started from it with ``load_from`` loaded no tensor and trained
    from its random initialisation, exit status 0."""
    official, _ = convert_to_official_mae(
        torch.load(trained, weights_only=True)['state_dict'])
    path = str(tmp_path / 'mae_pretrain.pth')
    torch.save({'model': official}, path)
    refused = (f'^checkpoint {re.escape(path)} does not fit the model \\(its '
               r'keys are in the official layout: tools/model_converters/'
               r'convert_checkpoint\.py converts it\): \d+ missing key')
    with pytest.raises(ValueError, match=refused):
        evaluation_runner(photos, str(tmp_path / 'b'), path).test()
    with pytest.raises(ValueError, match=refused):
        resume_runner(photos, str(tmp_path / 'c'), None,
                      f'load_from={path}').train()
    # the weights of the same model load
    runner = resume_runner(photos, str(tmp_path / 'd'), None,
                           f'load_from={trained}', 'train_cfg.max_epochs=1')
    runner.train()
    assert runner._has_loaded


def _zip_not_checkpoint(path):
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('readme.txt', 'not weights')


def _truncated_legacy(path):
    torch.save({'w': torch.ones(100)},
               path,
               _use_new_zipfile_serialization=False)
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize('make, looks_like', [
    (_zip_not_checkpoint,
     r'a zip archive of 1 file\(s\) \(readme\.txt\), none of them data\.pkl'),
    (lambda p: np.savez(open(p, 'wb'), a=np.ones(3)),
     r'a zip archive of 1 file\(s\) \(a\.npy\)'),
    (lambda p: np.save(open(p, 'wb'), np.ones(3)), r'a NumPy \.npy array'),
    (_truncated_legacy, r'a file starting with'),
    (lambda p: open(p, 'wb').close(), r'an empty file'),
])
def test_3_files_that_are_not_checkpoints_are_named(make, looks_like,
                                                    tmp_path):
    """Case 3: only RuntimeErrors mentioning PytorchStreamReader were
    named; a zip, an .npz or a cut legacy file gave bare errors."""
    path = str(tmp_path / 'not_a_checkpoint.pth')
    make(path)
    with pytest.raises(
            ValueError,
            match=f'checkpoint {re.escape(path)} is not a readable torch '
            rf'checkpoint .*: it looks like {looks_like}'):
        load_checkpoint_safely(path)
    # mmengine's loader (resume, load_from, init_cfg) is the same function
    with pytest.raises(ValueError, match=re.escape(path)):
        _load_checkpoint(path)


def test_5_temporary_files_of_killed_saves_are_removed_at_start(
        photos, tmp_path):
    """Case 5: each kill during a save left a .iter_N.pth.*.tmp forever."""
    work = tmp_path / 'work'
    work.mkdir()
    stale = ['.iter_3.pth.0a1b2c3d.tmp', '.last_checkpoint.deadbeef.tmp']
    for name in stale + ['.notes.tmp', 'iter_3.pth.0a1b2c3d.tmp']:
        (work / name).write_bytes(b'\0' * 1000)
    runner = checkpoint_every_iteration_runner(photos, str(work), 1)
    lines = []
    runner.logger.addHandler(ListHandler(lines))
    runner.train()
    assert sorted(
        glob.glob(str(work / '*.tmp')) +
        glob.glob(str(work / '.*.tmp'))) == sorted(
            str(work / name)
            for name in ('.notes.tmp', 'iter_3.pth.0a1b2c3d.tmp'))
    assert (f'removed 2 temporary file(s) that interrupted saves left in '
            f'{work}: {stale}') in lines



def test_6_a_file_name_that_is_not_utf8_is_logged(tmp_path, capfd):
    """Case 6: the skip warning naming such a file was lost to a
    UnicodeEncodeError inside logging."""
    folder = os.fsencode(str(tmp_path))
    bad = os.fsdecode(os.path.join(folder, b'caf\xe9.jpg'))  # Latin-1 name
    with open(bad, 'wb') as f:
        f.write(b'not an image')
    log_file = str(tmp_path / 'run.log')
    logger = MMLogger.get_instance('fault_6', log_file=log_file)
    load = RobustLoadImageFromFile(on_error='skip')
    assert load(dict(img_path=bad)) is None
    for handler in logger.handlers:
        handler.flush()
    with open(log_file, encoding='utf-8') as f:
        assert 'skipping unreadable image ' + str(tmp_path) + (
            '/caf\\xe9.jpg') in f.read()
    assert 'Logging error' not in capfd.readouterr().err


def test_6_any_text_in_a_message_is_made_writable():
    """File names' undecodable bytes (``os.fsdecode``'s surrogate escapes)
    become ``\\xNN``; a lone surrogate that is no such escape, which no
    UTF-8 handler can write either, becomes ``\\udNNN``."""
    assert printable(os.fsdecode(b'caf\xe9.jpg')) == 'caf\\xe9.jpg'
    assert printable('a\ud800b.jpg') == 'a\\ud800b.jpg'
    assert printable('café.jpg') == 'café.jpg'


def test_7_a_mask_ratio_that_keeps_no_patch_fails_at_build():
    """Case 7: mask_ratio=0.999 kept 0 of 144 patches and trained."""
    with pytest.raises(
            ValueError,
            match=r'RandomMasking\(mask_ratio=0\.999\) keeps 0 of the 144 '
            r'patches of a 12x12 grid visible'):
        MODELS.build(tiny_mae_cfg(img_size=96, mask_ratio=0.999))
    one = MODELS.build(tiny_mae_cfg(img_size=96, mask_ratio=0.99))
    assert one.backbone.masking.num_keep((12, 12)) == 1


def jpeg_with_its_middle_cut_out() -> bytes:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    ok, data = cv2.imencode('.jpg', cv2.resize(small, (256, 192)))
    data = data.tobytes()
    scan = data.index(b'\xff\xda')  # start of scan
    third = (len(data) - scan) // 3
    cut = data[:scan + third] + data[scan + 2 * third:]
    assert cut.endswith(b'\xff\xd9')  # the end marker is intact
    return cut


@pytest.mark.parametrize('loader', [
    dict(type='RobustLoadImageFromFile'),
    dict(type='DecodeRandomResizedCrop', scale=32),
    dict(type='DecodeRandomResizedCrop', scale=32, color_type='grayscale'),
])
def test_7_corrupt_jpeg_data_is_named_or_skipped(loader, tmp_path):
    """Case 7: libjpeg only warned on stderr and a JPEG with its middle
    third cut out trained as a smeared image."""
    path = str(tmp_path / 'cut.jpg')
    with open(path, 'wb') as f:
        f.write(jpeg_with_its_middle_cut_out())
    with pytest.raises(
            UnreadableImageError,
            match=f'{re.escape(path)}: corrupt JPEG data '
            r'\(libjpeg: Corrupt JPEG data: ') as error:
        TRANSFORMS.build(loader)(dict(img_path=path))
    assert error.value.__notes__ == [
        f"{loader['type']}(on_error='skip') would skip such files instead "
        '(and count them), set in the pipeline of each dataset that reads '
        "them: the training, validation and test loaders' and a hook's "
        'have their own'
    ]
    skip = TRANSFORMS.build(dict(loader, on_error='skip'))
    assert skip(dict(img_path=path)) is None
    assert skip.pop_num_skipped() == 1


def build_image_folder(root, with_label):
    """An ``ImageFolder`` of ``root`` and the warnings it logged."""
    lines = []
    handler = ListHandler(lines)
    handler.setLevel(logging.WARNING)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        init_default_scope('mae_plugin')
        dataset = DATASETS.build(
            dict(type='ImageFolder', data_root=str(root),
                 with_label=with_label))
    finally:
        logger.removeHandler(handler)
    return dataset, lines


def test_7_the_dataset_takes_every_loader_extension_and_names_the_rest(
        tmp_path):
    """Case 7: .webp and .tiff files were silently left out of the
    training set, a folder named x.jpg and a broken link too. Hidden
    files stay out, as in mmpretrain: the resource forks macOS writes
    beside a copied image (``._a.jpg``) are no JPEGs."""
    img = np.full((8, 8, 3), 100, np.uint8)
    for name in ('a.jpg', 'b.webp', 'c.tiff', 'd.PNG'):
        assert cv2.imwrite(str(tmp_path / name), img)
    (tmp_path / 'notes.txt').write_text('no image')
    (tmp_path / '._a.jpg').write_bytes(b'\x00\x05\x16\x07 resource fork')
    (tmp_path / '.DS_Store').write_bytes(b'\x00\x00\x00\x01Bud1')
    (tmp_path / 'x.jpg').mkdir()
    (tmp_path / 'gone.jpg').symlink_to(tmp_path / 'missing.jpg')
    dataset, lines = build_image_folder(tmp_path, with_label=False)
    images = ['a.jpg', 'b.webp', 'c.tiff', 'd.PNG']
    assert sorted(
        osp.basename(dataset.get_data_info(i)['img_path'])
        for i in range(len(dataset))) == images
    assert lines == [
        f'ImageFolder: 4 images in {osp.join(tmp_path, "")}; ignored 5 '
        'entries: 1 broken link (gone.jpg); 1 folder with an image name '
        '(x.jpg); 2 hidden (.DS_Store, ._a.jpg); 1 other extension (.txt: '
        '1). Image extensions: ' +
        ' '.join(sorted(dataset.extensions))
    ]
    # the visualisation tool finds the same files
    assert [osp.basename(p) for p in list_images([str(tmp_path)])] == images


def test_7_labelled_folder_names_the_images_outside_the_class_folders(
        tmp_path):
    """Images directly in the root of a labelled folder were left out of
    the dataset without a word."""
    img = np.full((8, 8, 3), 100, np.uint8)
    (tmp_path / 'cat').mkdir()
    for name in ('cat/a.jpg', 'stray.jpg', 'stray2.png'):
        assert cv2.imwrite(str(tmp_path / name), img)
    dataset, lines = build_image_folder(tmp_path, with_label=True)
    assert len(dataset) == 1
    assert dataset.get_data_info(0)['img_path'].endswith('a.jpg')
    assert lines == [
        f'ImageFolder: 1 images in {osp.join(tmp_path, "")}; ignored 2 '
        'entries: 2 outside the class folders (stray.jpg, stray2.png). '
        'Image extensions: ' + ' '.join(sorted(dataset.extensions))
    ]


def test_7_hidden_folders_taken_are_named(tmp_path):
    """mmpretrain (and torchvision) leave out hidden files but walk hidden
    folders: a notebook's .ipynb_checkpoints became class 0 of a labelled
    folder, shifting every label, and the thumbnails of a .thumbs folder
    were trained on, without a word."""
    img = np.full((8, 8, 3), 100, np.uint8)
    for name in ('cat/a.jpg', 'cat/.thumbs/t.jpg', '.ipynb_checkpoints/b.jpg',
                 'cat/.cache/deeper/.x/c.jpg'):
        os.makedirs(osp.dirname(tmp_path / name), exist_ok=True)
        assert cv2.imwrite(str(tmp_path / name), img)
    (tmp_path / '.git').mkdir()  # no image: a class only with labels
    (tmp_path / 'cat' / '.empty').mkdir()
    extensions = ' '.join(sorted(IMAGE_EXTENSIONS))
    dataset, lines = build_image_folder(tmp_path, with_label=True)
    assert dataset.CLASSES == ('.git', '.ipynb_checkpoints', 'cat')
    assert len(dataset) == 4
    assert lines[0].startswith('Found no valid file in the folder .git.')
    assert lines[1:] == [
        f'ImageFolder: 4 images in {osp.join(tmp_path, "")}; took the '
        'images in 4 hidden folders (.git, .ipynb_checkpoints, cat/.cache, '
        'cat/.thumbs), as mmpretrain and torchvision do (one directly in '
        f'the root is a class). Image extensions: {extensions}'
    ]
    dataset, lines = build_image_folder(tmp_path, with_label=False)
    assert len(dataset) == 4
    assert lines == [
        f'ImageFolder: 4 images in {osp.join(tmp_path, "")}; took the '
        'images in 3 hidden folders (.ipynb_checkpoints, cat/.cache, '
        'cat/.thumbs), as mmpretrain and torchvision do. Image extensions: '
        f'{extensions}'
    ]


def test_7_extensions_given_as_one_string_are_refused(tmp_path):
    """extensions='.png' was read letter by letter ('.', 'p', 'n', 'g'):
    every name ending in g, a.jpg included, was taken."""
    with pytest.raises(TypeError, match="extensions must be a sequence of "
                       r"extensions, such as \['.png'\], got the string"):
        DATASETS.build(
            dict(type='mae_plugin.ImageFolder', data_root=str(tmp_path),
                 extensions='.png'))


@pytest.mark.parametrize('line', ['b.jpg', '', 'b.jpg\t1', 'b.jpg cat'])
def test_7_an_annotation_line_without_an_int_label_is_named(tmp_path, line):
    """mmpretrain said only 'not enough values to unpack (expected 2, got
    1)' or 'invalid literal for int()', naming neither file nor line."""
    ann_file = tmp_path / 'train.txt'
    ann_file.write_text(f'a.jpg 0\n{line}\nc.jpg 2\n')
    with pytest.raises(
            ValueError,
            match=f'ann_file {re.escape(str(ann_file))} line 2 must be '
            f'"<image path> <int label>", got {re.escape(repr(line))}$'):
        DATASETS.build(
            dict(type='mae_plugin.ImageFolder', data_root=str(tmp_path),
                 ann_file=str(ann_file)))


def test_7_a_labelled_list_read_without_labels_is_named(tmp_path):
    """Pretraining reads ``with_label=False``: a classification list's
    lines were taken whole as paths ('a/x.jpg 0'), and every image failed
    at the first batch; a list of paths alone still loads."""
    os.makedirs(tmp_path / 'a')
    cv2.imwrite(str(tmp_path / 'a' / 'x.jpg'), np.zeros((8, 8, 3), np.uint8))
    ann_file = tmp_path / 'train.txt'
    ann_file.write_text('a/x.jpg 0\n')
    cfg = dict(type='mae_plugin.ImageFolder', data_root=str(tmp_path),
               ann_file=str(ann_file), with_label=False)
    with pytest.raises(ValueError) as error:
        DATASETS.build(cfg)
    assert str(error.value) == (
        f'ann_file {ann_file} lists "<image path> <int label>" lines, which '
        f"with_label=False reads as paths ('{tmp_path}/a/x.jpg 0' is no "
        'file): set with_label=True, or list the image paths alone')
    ann_file.write_text('a/x.jpg\n')
    assert len(DATASETS.build(cfg)) == 1


def unsigned_32_bit_tiff(values):
    """An uncompressed grey TIFF of unsigned 32-bit samples (SampleFormat
    1), which Pillow cannot write: it saves mode ``I`` as signed."""
    values = np.asarray(values, '<u4')
    height, width = values.shape
    pixels = values.tobytes()
    tags = [(256, width), (257, height), (258, 32), (259, 1), (262, 1),
            (273, None), (277, 1), (278, height), (279, len(pixels)),
            (339, 1)]
    pixel_offset = 8 + 2 + 12 * len(tags) + 4  # header, entries, next IFD
    ifd = struct.pack('<H', len(tags)) + b''.join(
        struct.pack('<HHII', tag, 4, 1, pixel_offset if value is None
                    else value) for tag, value in tags)
    return b'II*\x00' + struct.pack('<I', 8) + ifd + b'\0' * 4 + pixels


def test_7_unsigned_32_bit_and_floating_point_images(tmp_path):
    """Pillow reads unsigned 32-bit samples as int32: the top half came out
    negative and was refused; scaled as the unsigned values they are.
    Floating-point samples (mode F) have no range to scale from and are
    refused by name."""
    top = 2**32 - 1
    data = unsigned_32_bit_tiff([[0, top // 255 * 100 + 1, top]])
    assert np.asarray(Image.open(io.BytesIO(data))).tolist() == [
        [0, top // 255 * 100 + 1, -1]]  # as Pillow gives them
    assert decode_image(data, 'u32.tif', 'grayscale').tolist() == [
        [0, 100, 255]]
    float_tiff = io.BytesIO()
    Image.fromarray(np.array([[0.5, 1.]], np.float32)).save(float_tiff,
                                                            format='TIFF')
    with pytest.raises(UnreadableImageError, match=r'^f.tif: floating-point '
                       r'images \(mode F\) are not supported$'):
        decode_image(float_tiff.getvalue(), 'f.tif')


def test_7_integer_images_wider_than_8_bits_are_scaled_not_clipped(tmp_path):
    """Case 7: an int32 TIFF was clipped to 255."""
    top = 2**31 - 1
    values = np.array([[0, top // 255 * 100 + 1, top]], np.int32)
    path = str(tmp_path / 'int32.tif')
    Image.fromarray(values).save(path)  # SampleFormat 2, 32 bits
    with open(path, 'rb') as f:
        grey = decode_image(f.read(), path, 'grayscale')
    assert grey.tolist() == [[0, 100, 255]]
    Image.fromarray(np.array([[-1, 5]], np.int32)).save(path)
    with open(path, 'rb') as f:
        with pytest.raises(
                UnreadableImageError,
                match='values -1..5 outside the range '
                r'0..2147483647 of its 32-bit samples'):
            decode_image(f.read(), path)
    # 16-bit PNG: 65535 -> 255, as before
    png = str(tmp_path / 'u16.png')
    Image.fromarray(np.array([[0, 257 * 3, 65535]], np.uint16)).save(png)
    with open(png, 'rb') as f:
        assert decode_image(f.read(), png,
                            'grayscale').tolist() == [[0, 3, 255]]
