"""tools/visualize_reconstruction.py and the library functions behind it:
several images of any size, masking strategy and ratio, seed, pixel or
norm-pix models."""
import argparse
import os.path as osp
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from PIL import Image

from mae_plugin.apis import (CheckpointMismatchError, build_masking,
                             init_model, list_images,
                             reconstruct_images, set_masking)
from mae_plugin.checkpoint import convert_to_official_mae
from mae_plugin.visualization import caption_lines, panel_titles
from ..conftest import ABSENT_CUDA
from .test_tool_flags import run_main
from .test_train_test_visualize import CONFIG, TINY, run, run_tool

GAP = 4
FASHION_MNIST = osp.join(osp.dirname(CONFIG),
                         'mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist.py')
SIZES = [(40, 56), (50, 60)]  # (H, W); the model trains on 32 x 32
FILL = 128  # grey of the removed patches in the masked panel


def options(*extra):
    """``key=value`` strings as the tools parse them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *TINY, *extra]).cfg_options


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(SIZES):
        small = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(root / f'img_{i}.png'), img)
    return str(root)


def panels(row, width):
    """The four panels of one figure row."""
    return [row[:, i * (width + GAP):i * (width + GAP) + width]
            for i in range(4)]


def figures(reconstructions):
    return [r.figure for r in reconstructions]


def removed_patches(masked, patch=8):
    """Which whole patches of a masked panel are the removal grey."""
    h, w = masked.shape[0] // patch, masked.shape[1] // patch
    cells = masked[:h * patch, :w * patch].reshape(h, patch, w, patch, -1)
    return (cells == FILL).all(axis=(1, 3, 4))  # [h, w]


def test_list_images_expands_folders_and_names_missing_paths(images):
    files = list_images([images, osp.join(images, 'img_0.png')])
    assert [osp.basename(f) for f in files] == [
        'img_0.png', 'img_1.png', 'img_0.png'
    ]
    with pytest.raises(FileNotFoundError, match='nope.png'):
        list_images([osp.join(images, 'nope.png')])
    # one path, str or pathlib, is not taken letter by letter (from '/')
    assert list_images(images) == list_images(Path(images)) == files[:2]
    with pytest.raises(TypeError, match=re.escape(
            'paths[1] must be a path (str or os.PathLike), got 3 (int)')):
        list_images([images, 3])


def test_init_model_names_a_work_dir_given_as_checkpoint(tmp_path):
    """mmengine said "checkpoint ... can not be found" for the folder,
    after building the model."""
    (tmp_path / 'epoch_1.pth').write_bytes(b'weights')
    with pytest.raises(IsADirectoryError, match=(
            f'^checkpoint {re.escape(str(tmp_path))} is a folder, not a '
            'checkpoint file; checkpoint files in it: epoch_1.pth$')):
        init_model(Path(CONFIG), tmp_path)


def test_init_model_leaves_a_given_config_unchanged():
    """The options are merged into the model's copy; they were merged into
    the caller's config, which the next model built from it then had."""
    cfg = Config.fromfile(CONFIG)
    model = init_model(cfg, cfg_options=options(
        'model.backbone.masking.mask_ratio=0.5'))
    assert model.backbone.masking.mask_ratio == 0.5
    assert model.cfg.model.backbone.masking.mask_ratio == 0.5
    assert cfg.model.backbone.masking.mask_ratio == 0.75
    assert cfg.model.backbone.arch.embed_dims == 192  # not TINY's 32



def test_build_masking_from_the_command_line_names():
    assert type(build_masking('block', 0.5)).__name__ == 'BlockMasking'
    assert build_masking('grid', 0.75).stride == 2
    assert build_masking('grid', 8 / 9).stride == 3
    with pytest.raises(ValueError, match='grid masking ratio'):
        build_masking('grid', 0.5)
    with pytest.raises(ValueError, match="^strategy must be one of"):
        build_masking('checkerboard', 0.5)
    with pytest.raises(ValueError, match='mask_ratio'):
        build_masking('random', 1.0)


def test_panels_keep_each_input_size_and_show_the_mask(images):
    model = init_model(CONFIG, cfg_options=options())
    set_masking(model, 'block', 0.5)
    files = list_images([images])
    rows = figures(reconstruct_images(model, files, seed=1))
    for (h, w), row, path in zip(SIZES, rows, files):
        assert row.shape == (h, 4 * w + 3 * GAP, 3)
        original, masked, recon, pasted = panels(row, w)
        # RGB (the preprocessor's to_rgb) of the file's exact pixels
        assert np.array_equal(original, cv2.imread(path)[..., ::-1])
        removed = removed_patches(masked)
        # int(L * (1 - 0.5)) patches stay visible
        grid = (h + 7) // 8 * ((w + 7) // 8)
        if h % 8 == 0 and w % 8 == 0:
            assert removed.sum() == grid - int(grid * 0.5)
        pixel = removed.repeat(8, 0).repeat(8, 1)[..., None]
        region = (slice(0, pixel.shape[0]), slice(0, pixel.shape[1]))
        assert np.array_equal(
            pasted[region],
            np.where(pixel, recon[region], original[region]))

    again = figures(reconstruct_images(model, files, seed=1))
    other = figures(reconstruct_images(model, files, seed=2))
    assert all(np.array_equal(a, b) for a, b in zip(rows, again))
    assert not np.array_equal(removed_patches(panels(rows[0], 56)[1]),
                              removed_patches(panels(other[0], 56)[1]))


def test_resize_to_a_given_size(images):
    model = init_model(CONFIG, cfg_options=options())
    rows = figures(reconstruct_images(model, list_images([images]),
                                      img_size=(24, 40)))
    assert [row.shape for row in rows] == [(24, 4 * 40 + 3 * GAP, 3)] * 2
    with pytest.raises(ValueError, match='img_size'):
        reconstruct_images(model, list_images([images]), img_size=[0, 40])


def test_an_image_the_masking_removes_whole_is_named(tmp_path, images):
    """An image of one 8 x 8 patch (a 5 x 7 icon, padded): the masking
    keeps none of it visible; the error named neither file nor size (a
    folder's figure failed on an unknown image). Resized, it draws."""
    model = init_model(CONFIG, cfg_options=options())
    icon = str(tmp_path / 'icon.png')
    cv2.imwrite(icon, np.full((5, 7, 3), 200, np.uint8))
    with pytest.raises(
            ValueError,
            match=f'^{re.escape(icon)} \\(5x7 pixels as reconstructed; '
            r'img_size, --img-size, resizes it\): RandomMasking\('
            r'mask_ratio=0.75\) keeps 0 of the 1 patches of a 1x1 grid '
            'visible'):
        reconstruct_images(model, list_images([images]) + [icon])
    rows = figures(reconstruct_images(model, [icon], img_size=(16, 16)))
    assert rows[0].shape == (16, 4 * 16 + 3 * GAP, 3)


@pytest.mark.parametrize('norm_pix', [True, False])
def test_caption_states_masking_and_target(norm_pix):
    model = init_model(
        CONFIG, cfg_options=options(f'model.head.norm_pix={norm_pix}'))
    set_masking(model, 'grid', 0.75)
    model.predict_seed = 7
    masking, target = caption_lines(model)[1:]
    # a stride-2 grid removes 75% only of grids with even sides
    assert masking == ('GridMasking: the top-left 8x8 patch of every 2x2 '
                       'kept, mask seed 7')
    set_masking(model, 'random', 0.6)
    assert caption_lines(model)[1] == (
        'RandomMasking: 60% of the 8x8 patches removed, mask seed 7')
    assert target.startswith('norm-pix' if norm_pix else 'pixel')
    assert ('mean and std' in target) == norm_pix


def test_tool_writes_one_png_with_a_row_per_image(images, tmp_path):
    opts = options('model.head.norm_pix=False')
    model = init_model(CONFIG, cfg_options=opts)
    checkpoint = str(tmp_path / 'mae.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    png = str(tmp_path / 'out' / 'figure.png')
    out = run('tools/visualize_reconstruction.py', CONFIG, checkpoint,
              images, '--out-file', png, '--masking', 'random',
              '--mask-ratio', '0.5', '--seed', '3', '--scale', '2',
              '--cfg-options', *TINY, 'model.head.norm_pix=False')
    assert 'RandomMasking: 50% of the 8x8 patches removed, mask seed 3' in out
    assert 'pixel target' in out
    # the rows are what the library draws with the same masks (BGR on
    # disk), titled, every panel twice the image's size
    set_masking(model, 'random', 0.5)
    titles = panel_titles(model)
    assert titles == [
        'original', 'masked: 50% random', 'reconstruction',
        'reconstruction + visible'
    ]
    files = list_images([images])
    expected = reconstruct_images(model, files, seed=3, scale=2,
                                  titles=titles)
    figure = cv2.imread(png)
    # caption band on top, then one row per image with a gap between rows
    second = figure[-expected[1].figure.shape[0]:]
    first = figure[-second.shape[0] - GAP -
                   expected[0].figure.shape[0]:-second.shape[0] - GAP]
    for (h, w), row, path, drawn in zip(SIZES, (first, second), files,
                                        expected):
        band = row.shape[0] - 2 * h
        assert 10 < band < 40  # the titles
        assert np.array_equal(row[band:, :2 * w],
                              cv2.imread(path).repeat(2, 0).repeat(2, 1))
        assert np.array_equal(row[:, :drawn.figure.shape[1]],
                              drawn.figure[..., ::-1])
        # the masked-patch MSE of every image, as predict measured it
        assert (f'{path}: masked-patch MSE {drawn.masked_mse:.1f} (PSNR '
                f'{10 * np.log10(255**2 / drawn.masked_mse):.2f} dB'
                ) in out
        assert drawn.masked_mse > 0


def test_demo_model_draws_removed_patches_from_visible_ones_only():
    """The demo's pixel-target model: what the removed patches held changes
    nothing that is drawn there. A norm-pix model maps its predictions
    back with those patches' own statistics, taken from the answer."""
    inputs = torch.randn(1, 3, 32, 32)
    drawn = {}
    for norm_pix in (False, True):
        model = init_model(
            CONFIG, cfg_options=options(f'model.head.norm_pix={norm_pix}'))
        first = model.predict(inputs)[0]
        removed = first.mask.repeat_interleave(8, 0).repeat_interleave(
            8, 1).bool()  # [32, 32]
        altered = inputs.clone()
        altered[..., removed] = torch.randn(3, int(removed.sum()))
        second = model.predict(altered)[0]
        assert torch.equal(second.mask, first.mask)
        drawn[norm_pix] = torch.equal(first.reconstruction[:, removed],
                                      second.reconstruction[:, removed])
    assert drawn == {False: True, True: False}
    assert init_model(CONFIG).head.norm_pix is False  # the demo's own


def test_masked_mse_counts_the_image_not_its_padding(images):
    """A 50 x 60 image is padded (edge values) to 56 x 64 for the model;
    the MSE it prints is that of the removed pixels inside the 50 x 60
    image, not of the padding's too."""
    model = init_model(CONFIG, cfg_options=options())
    path = list_images([images])[1]
    drawn = reconstruct_images(model, [path], seed=4)[0]
    # the padded input as reconstruct_images builds it, through predict
    padded = np.pad(cv2.imread(path), ((0, 6), (0, 4), (0, 0)), mode='edge')
    data = model.data_preprocessor(
        dict(inputs=torch.from_numpy(padded).permute(2, 0, 1)[None],
             data_samples=None),
        training=False)
    model.predict_seed = 4
    sample = model.predict(data['inputs'])[0]
    original = model.to_pixels(data['inputs'])[0]  # [3, 56, 64]
    error = (sample.reconstruction - original).pow(2).mean(dim=0)
    removed = sample.mask.repeat_interleave(8, 0).repeat_interleave(8, 1)
    inside = removed[:50, :60].bool()
    assert inside.any()
    assert drawn.masked_mse == pytest.approx(
        float(error[:50, :60][inside].mean()), rel=1e-5)
    assert float(sample.masked_mse) != pytest.approx(drawn.masked_mse,
                                                     rel=1e-3)


@pytest.mark.parametrize('out_file', ['figure', 'figure.xyz'])
def test_an_out_file_opencv_cannot_write_is_refused_first(out_file, images,
                                                          tmp_path):
    """Refused by name before the model is even built (a missing
    checkpoint here), instead of OpenCV's 'could not find a writer'
    after the reconstruction."""
    result = run_tool('tools/visualize_reconstruction.py', CONFIG,
                      str(tmp_path / 'missing.pth'), images, '--out-file',
                      str(tmp_path / out_file))
    assert result.returncode == 2
    assert f'--out-file {tmp_path / out_file}: OpenCV writes no image' in (
        result.stderr)
    assert not (tmp_path / out_file).exists()


def test_an_out_file_that_is_an_input_image_is_refused(images, tmp_path):
    """The figure was written over the image of a folder given as input."""
    image = osp.join(images, 'img_1.png')
    before = open(image, 'rb').read()
    result = run_tool('tools/visualize_reconstruction.py', CONFIG,
                      str(tmp_path / 'missing.pth'), images, '--out-file',
                      image)
    assert result.returncode == 1
    assert result.stderr == (
        f'visualize_reconstruction: --out-file must be another file than '
        f'the input {image} (writing it would overwrite the input), got '
        f'{image}\n')
    assert open(image, 'rb').read() == before


def test_an_out_file_under_a_file_is_refused_before_the_model(images,
                                                              tmp_path):
    """The figure's write failed with "File exists" once the model had
    reconstructed every image; refused here before the model is built (a
    missing checkpoint)."""
    photo = tmp_path / 'a.jpg'
    photo.write_bytes(b'jpeg')
    result = run_tool('tools/visualize_reconstruction.py', CONFIG,
                      str(tmp_path / 'missing.pth'), images, '--out-file',
                      f'{photo}/o.png')
    assert result.returncode == 1
    assert result.stderr == (
        f'visualize_reconstruction: --out-file must be a path in a folder, '
        f'got {photo}/o.png: {photo} is a file, not a folder\n')


@pytest.mark.parametrize('flag, value, message', [
    ('--mask-ratio', '1', 'mask_ratio must be a number in [0, 1), got 1.0'),
    # a traceback from the library, after the model was built
    ('--seed', str(2**64), 'seed must be an int in [-9223372036854775808, '
     f'18446744073709551615], got {2**64}'),
])
def test_the_mask_ratio_and_seed_are_checked_at_the_command_line(
        flag, value, message, images, tmp_path):
    """Named by flag before the model is built (a missing checkpoint
    here), not by the library after loading it."""
    result = run_tool('tools/visualize_reconstruction.py', CONFIG,
                      str(tmp_path / 'missing.pth'), images, flag, value)
    assert result.returncode == 2
    assert f'error: argument {flag}: {message}' in result.stderr


def load_error(checkpoint):
    """The message of init_model's refusal to load ``checkpoint``."""
    with pytest.raises(CheckpointMismatchError) as error:
        init_model(CONFIG, checkpoint, cfg_options=options())
    return str(error.value)


def encoder_checkpoint(path, extra=None):
    """A checkpoint at ``path`` of the tiny model's encoder (``backbone.*``)
    and the weights in ``extra``: its path."""
    model = init_model(CONFIG, cfg_options=options())
    weights = {key: value for key, value in model.state_dict().items()
               if key.startswith('backbone.')}
    torch.save(dict(state_dict={**weights, **(extra or {})}), str(path))
    return str(path)


def test_a_checkpoint_of_another_architecture_is_named(tmp_path):
    """mmengine's strict load lists the keys but names neither the file nor
    the config."""
    other = init_model(CONFIG, cfg_options=options(
        'model.backbone.arch.num_layers=3'))
    checkpoint = str(tmp_path / 'deeper.pth')
    torch.save(dict(state_dict=other.state_dict()), checkpoint)
    assert load_error(checkpoint).startswith(
        f'checkpoint {checkpoint} does not fit the model of {CONFIG}: ')
    assert 'backbone.layers.2.ln1.weight' in load_error(checkpoint)


def test_a_checkpoint_in_another_layout_names_the_converter(tmp_path):
    """Only mmengine's "do not match exactly" was said."""
    model = init_model(CONFIG, cfg_options=options())
    official, _ = convert_to_official_mae(model.state_dict())
    checkpoint = str(tmp_path / 'mae_pretrain.pth')
    torch.save(dict(model=official), checkpoint)
    assert load_error(checkpoint).startswith(
        f'checkpoint {checkpoint} does not fit the model of {CONFIG} (its '
        'keys are in the official layout: tools/model_converters/'
        'convert_checkpoint.py converts it): The model and loaded state dict '
        'do not match exactly')


def test_an_encoder_only_checkpoint_is_named_as_one(tmp_path):
    """The figure tool listed the decoder's keys as missing, without
    saying that the file holds an encoder only."""
    checkpoint = encoder_checkpoint(tmp_path / 'encoder.pth')
    assert load_error(checkpoint).startswith(
        f'checkpoint {checkpoint} does not fit the model of {CONFIG} (it '
        'holds no neck.* weights: an encoder-only checkpoint, which '
        'fine-tuning takes; a reconstruction needs the decoder of a whole '
        'pretraining checkpoint, e.g. epoch_*.pth or the official '
        'mae_visualize_* converted): ')


def test_a_fine_tuned_classifier_is_not_named_encoder_only(tmp_path):
    """Its encoder and classification head were called "an encoder-only
    checkpoint"."""
    checkpoint = encoder_checkpoint(tmp_path / 'fine_tuned.pth',
                                    {'head.fc.weight': torch.zeros(10, 32)})
    assert load_error(checkpoint).startswith(
        f'checkpoint {checkpoint} does not fit the model of {CONFIG} (it '
        'holds no neck.* weights: a reconstruction needs the decoder of a '
        'whole pretraining checkpoint, e.g. epoch_*.pth or the official '
        'mae_visualize_* converted): ')


def test_the_tool_reports_a_checkpoint_that_does_not_fit_in_a_line(
        images, tmp_path):
    """The refusal came with two chained tracebacks (it is no error that
    the tool's input report took)."""
    checkpoint = encoder_checkpoint(tmp_path / 'encoder.pth')
    result = run_tool('tools/visualize_reconstruction.py', CONFIG,
                      checkpoint, images, '--out-file',
                      str(tmp_path / 'out.png'), '--cfg-options', *TINY)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        f'visualize_reconstruction: checkpoint {checkpoint} does not fit '
        f'the model of {CONFIG} (it holds no neck.* weights: an '
        'encoder-only checkpoint'), result.stderr
    assert 'Traceback' not in result.stderr
    assert not (tmp_path / 'out.png').exists()


def test_a_cuda_device_the_machine_lacks_is_named():
    """Named before the model is built, not torch's driver error."""
    with pytest.raises(ValueError, match='device must be cpu or one of the '
                       f".*got '{ABSENT_CUDA}'"):
        init_model(CONFIG, device=ABSENT_CUDA)


def test_a_config_of_arrays_loads_files_in_the_backbone_channels(images):
    """Fashion-MNIST's test pipeline takes arrays, not files: its one-channel
    model reads image files in grey."""
    model = init_model(FASHION_MNIST)
    files = list_images([images])
    rows = figures(reconstruct_images(model, files))
    for (h, w), row, path in zip(SIZES, rows, files):
        assert row.shape == (h, 4 * w + 3 * GAP, 1)
        grey = np.asarray(Image.open(path).convert('L'))  # as PNGs load
        assert np.array_equal(panels(row, w)[0], grey[..., None])


def test_files_for_a_config_of_arrays_need_one_or_three_channels(images):
    model = init_model(FASHION_MNIST,
                       cfg_options={'model.backbone.in_channels': 4})
    with pytest.raises(ValueError, match=r"the test_pipeline of the config "
                       r"\(first step 'PackInputs'\) loads no image files, "
                       r'and image files have 1 or 3 channels, not the '
                       r'backbone.in_channels=4'):
        reconstruct_images(model, list_images([images]))


def test_files_load_as_the_test_dataloader_loads_them(images):
    """A grey model whose config sets ``color_type`` in its dataloaders
    (not in the ``test_pipeline`` variable they were made from) reads
    the files in grey, as its test runs do."""
    model = init_model(CONFIG, cfg_options={
        'model.backbone.in_channels': 1,
        'model.data_preprocessor.mean': [127.5],
        'model.data_preprocessor.std': [64.],
        'model.data_preprocessor.to_rgb': False,
        'test_dataloader.dataset.pipeline.0.color_type': 'grayscale'})
    files = list_images([images])
    rows = figures(reconstruct_images(model, files))
    for (h, w), row, path in zip(SIZES, rows, files):
        assert row.shape == (h, 4 * w + 3 * GAP, 1)


@pytest.mark.parametrize('side', ['4097', '100000', '0'])
def test_img_size_is_bounded_by_its_flag(side, tmp_path, monkeypatch,
                                         capsys):
    """--img-size 100000 100000 failed once the model was built, in
    OpenCV's allocation of the resized image (30 GB); 4096 passes the
    flag."""
    image = str(tmp_path / 'a.png')
    cv2.imwrite(image, np.zeros((32, 32, 3), np.uint8))
    missing = str(tmp_path / 'missing.pth')

    def exit_with(sides):
        return run_main('tools/visualize_reconstruction.py',
                        [CONFIG, missing, image, '--img-size', *sides],
                        monkeypatch, capsys)

    code, err = exit_with(['32', side])
    assert code == 2
    assert err.splitlines()[-1] == (
        'visualize_reconstruction.py: error: argument --img-size: img_size '
        f'must be an int in [1, 4096], got {side}')
    # the checkpoint is the next input checked
    assert exit_with(['4096', '4096'])[0] == (
        f'visualize_reconstruction: checkpoint {missing}: no such file')
