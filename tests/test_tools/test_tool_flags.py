"""The flags several tools share are declared once (mae_plugin's
``experiments.cli`` and ``utils``) and checked by argparse, so a bad value
is named by flag before the tool does any work."""
import os.path as osp
import sys

import cv2
import numpy as np
import pytest

from mae_plugin.datasets import IMAGE_EXTENSIONS
from ..conftest import ABSENT_CUDA
from .test_documented_commands import load_tool
from .test_train_test_visualize import CONFIG, run_tool

TOOLS = 'tools/analysis_tools/'
#: Arguments that keep each tool's work small, were it to run.
SMALL = {
    'benchmark_pipeline.py': [
        '--num-images', '1', '--image-size', '32', '32', '--scale', '16',
        '--warmup', '0', '--rounds', '1', '--pipelines', 'mae_plugin'
    ],
    'benchmark_pretrain.py': [
        '--arch', 'deit-small', '--img-size', '32', '--patch-size', '8',
        '--batch-size', '1', '--decoder-dims', '32', '--decoder-depth', '1',
        '--decoder-heads', '2', '--peers', 'mae_plugin', '--warmup', '0',
        '--rounds', '1', '--steps', '1'
    ],
    'benchmark_train.py':
    [CONFIG, '--data-root', 'data/none', '--batch-size', '1'],
    'check_gpu_decode.py': [
        '--device', 'cpu', '--num-images', '1', '--image-size', '32', '32',
        '--rounds', '1', '--busy-size', '8', '--busy-kernels', '1'
    ],
}


def run_main(path, argv, monkeypatch, capsys):
    """Run the ``main`` of the tool at ``path`` (from the checkout root)
    in this process, as ``path argv``: its exit status and stderr."""
    tool = load_tool(path)
    monkeypatch.setattr(sys, 'argv', [osp.basename(path), *argv])
    with pytest.raises(SystemExit) as exit_info:
        tool.main()
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize('tool', sorted(SMALL))
def test_a_json_file_that_cannot_be_written_is_refused_first(
        tool, monkeypatch, capsys):
    """benchmark_pipeline, benchmark_pretrain and check_gpu_decode ran
    their whole work, then failed in os.makedirs with a traceback."""
    code, err = run_main(TOOLS + tool,
                         [*SMALL[tool], '--json', '/proc/nope/x.json'],
                         monkeypatch, capsys)
    assert code == 2
    assert err.splitlines()[-1].startswith(
        f'{tool}: error: argument --json: json must be a path in a folder '
        'that can be written, got /proc/nope/x.json: no file can be created '
        'in /proc ('), err


@pytest.mark.parametrize('tool', [
    TOOLS + 'check_gpu_decode.py', TOOLS + 'benchmark_pretrain.py',
    'tools/visualize_reconstruction.py'
])
@pytest.mark.parametrize('device, message', [
    ('gpu', "device must be a torch device (cpu, cuda, cuda:0, ...), got "
     "'gpu' (str)"),
    (ABSENT_CUDA, 'device must be cpu or one of the '),
])
def test_a_device_the_machine_lacks_is_refused_by_flag(
        tool, device, message, tmp_path, monkeypatch, capsys):
    """check_gpu_decode checked it in main (a traceback), benchmark_pretrain
    in the library's run_benchmark and visualize_reconstruction in
    init_model, once the config was loaded (tracebacks)."""
    argv = ['--device', device]
    if tool.endswith('visualize_reconstruction.py'):
        image = str(tmp_path / 'a.png')
        cv2.imwrite(image, np.zeros((32, 32, 3), np.uint8))
        argv = [CONFIG, str(tmp_path / 'missing.pth'), image, *argv]
    code, err = run_main(tool, argv, monkeypatch, capsys)
    assert code == 2
    assert f'error: argument --device: {message}' in err, err


@pytest.mark.parametrize('tool', [
    TOOLS + 'check_gpu_decode.py', TOOLS + 'benchmark_pretrain.py',
    'tools/visualize_reconstruction.py'
])
def test_the_last_device_flag_wins(tool, tmp_path, monkeypatch):
    """Each --device was checked as parsed, so gpu_benchmarks.sh's check on
    a CPU (``--device cuda ... --device cpu``) stopped at its first
    stage."""
    argv = ['--device', ABSENT_CUDA, '--device', 'cpu']
    if tool.endswith('visualize_reconstruction.py'):
        argv = [CONFIG, str(tmp_path / 'a.pth'), str(tmp_path), *argv]
    monkeypatch.setattr(sys, 'argv', [osp.basename(tool), *argv])
    assert load_tool(tool).parse_args().device == 'cpu'


@pytest.mark.parametrize('tool', ['benchmark_pipeline.py', 'compare_crops.py',
                                  'check_gpu_decode.py'])
@pytest.mark.parametrize('flag, message', [
    (['--quality', '500'], 'argument --quality: quality must be an int in '
     '[0, 100], got 500'),
    (['--image-size', '0', '5'], 'argument --image-size: image_size must be '
     'an int >= 1, got 0'),
    (['--num-images', '0'], 'argument --num-images: num_images must be an '
     'int >= 1, got 0'),
])
def test_the_jpeg_flags_are_checked_alike(tool, flag, message, monkeypatch,
                                          capsys):
    """check_gpu_decode declared them again without the checks: a
    ValueError traceback from PipelineSpec for --quality 500."""
    code, err = run_main(TOOLS + tool, ['--device', 'cpu'] * (
        tool == 'check_gpu_decode.py') + flag, monkeypatch, capsys)
    assert code == 2
    assert err.endswith(f'{tool}: error: {message}\n'), err


@pytest.fixture
def image(tmp_path):
    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, np.zeros((32, 32, 3), np.uint8))
    return path


@pytest.mark.parametrize('tool', [
    'tools/train.py', 'tools/test.py', 'tools/visualize_reconstruction.py',
    TOOLS + 'benchmark_train.py', TOOLS + 'compare_precision.py'
])
def test_a_checkpoint_given_as_the_config_is_refused_by_argparse(
        tool, image, tmp_path, monkeypatch, capsys):
    """tools/train.py x.pth printed a traceback (test.py and
    visualize_reconstruction too; the analysis tools once the work had
    begun)."""
    checkpoint = str(tmp_path / 'epoch_1.pth')
    rest = dict(test=[CONFIG], visualize_reconstruction=[CONFIG, image],
                benchmark_train=['--data-root', str(tmp_path),
                                 '--batch-size', '1'])
    name = osp.splitext(osp.basename(tool))[0]
    code, err = run_main(tool, [checkpoint, *rest.get(name, [])],
                         monkeypatch, capsys)
    assert code == 2
    assert err.endswith(
        f'{name}.py: error: argument config: config must be a config file '
        f'(.py, .json, .yaml, .yml), got {checkpoint}, which looks like a '
        'checkpoint: the config comes first, then the checkpoint\n'), err


@pytest.mark.parametrize('tool, args, message', [
    ('train', ['--cfg-options', 'optim_wraper.lr=1'],
     "cfg_options optim_wraper.lr must start with a key of the config or of "
     "mmengine's Runner, got 'optim_wraper', which neither has; did you "
     "mean 'optim_wrapper'?"),
    ('test', ['{missing}'], 'checkpoint {missing}: no such file'),
    ('visualize_reconstruction', ['{missing}', '{image}'],
     'checkpoint {missing}: no such file'),
])
def test_an_input_the_library_refuses_is_one_line(tool, args, message,
                                                  image, tmp_path):
    """The library's checks of the inputs, before any work, were reported
    by train.py and test.py (and visualize_reconstruction for the model's
    inputs) with a traceback; now as convert_checkpoint and publish_model
    do: one line, the tool's name and the message, exit status 1."""
    names = dict(missing=tmp_path / 'missing.pth', image=image)
    work_dir = [] if tool == 'visualize_reconstruction' else [
        '--work-dir', str(tmp_path / 'work')]
    result = run_tool(f'tools/{tool}.py', CONFIG,
                      *[arg.format(**names) for arg in args], *work_dir)
    assert result.returncode == 1
    assert result.stderr == f'{tool}: {message.format(**names)}\n'
    assert not (tmp_path / 'work').exists()


@pytest.mark.parametrize('tool, args, message', [
    ('benchmark_train', ['--data-root', '{missing}', '--batch-size', '1'],
     "data_root must be a folder of images, got '{missing}', which is no "
     'folder'),
    ('benchmark_train', ['--data-root', '{empty}', '--batch-size', '1'],
     "data_root must be a folder of images, got '{empty}', which holds "
     'none; image extensions: {extensions}'),
    ('compare_precision', [
        '--cfg-options', 'train_dataloader.dataset.dataset.data_root={empty}',
        'custom_hooks.0.dataset.data_root={images}'
    ], "train_dataloader.dataset.dataset.data_root must be a folder of "
     "images, got '{empty}', which holds none; image extensions: "
     '{extensions}'),
    ('benchmark_pretrain', ['--img-size', '30', '--patch-size', '16'],
     'img_size 30x30 is not a multiple of patch_size 16'),
])
def test_a_data_input_the_analysis_tools_refuse_is_one_line(
        tool, args, message, image, tmp_path):
    """benchmark_train and compare_precision checked their data inside
    the library call that does the work, benchmark_pretrain its sizes as
    it built the models: a missing or empty image folder, or an image
    size that is no multiple of the patch, printed a traceback."""
    (tmp_path / 'empty').mkdir()
    names = dict(missing=tmp_path / 'missing', empty=tmp_path / 'empty',
                 images=tmp_path, extensions=' '.join(IMAGE_EXTENSIONS))
    argv = ([*SMALL['benchmark_pretrain.py']]
            if tool == 'benchmark_pretrain' else
            [CONFIG, '--work-dir', str(tmp_path / 'work')])
    result = run_tool(f'{TOOLS}{tool}.py', *argv,
                      *[arg.format(**names) for arg in args])
    assert result.returncode == 1
    assert result.stderr == f'{tool}: {message.format(**names)}\n'
    assert not (tmp_path / 'work').exists()


@pytest.mark.parametrize('tool, args, key', [
    ('train', [
        '--cfg-options', 'train_dataloader.dataset.dataset.data_root={empty}',
        'val_dataloader.dataset.data_root={images}',
        'custom_hooks.0.dataset.data_root={images}'
    ], 'train_dataloader.dataset.dataset.data_root'),
    ('test', [
        '{checkpoint}', '--cfg-options',
        'test_dataloader.dataset.data_root={empty}'
    ], 'test_dataloader.dataset.data_root'),
])
def test_an_image_folder_without_images_is_refused_before_the_run(
        tool, args, key, image, tmp_path):
    """train.py and test.py built the model and the runner, then failed in
    mmpretrain's dataset with "Found 0 files in subfolders", naming no
    key."""
    (tmp_path / 'empty').mkdir()
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'weights')
    names = dict(empty=tmp_path / 'empty', images=tmp_path,
                 checkpoint=checkpoint)
    result = run_tool(f'tools/{tool}.py', CONFIG,
                      *[arg.format(**names) for arg in args],
                      '--work-dir', str(tmp_path / 'work'))
    assert result.returncode == 1
    assert result.stderr == (
        f"{tool}: {key} must be a folder of images, got "
        f"'{tmp_path / 'empty'}', which holds none; image extensions: "
        f"{' '.join(IMAGE_EXTENSIONS)}\n")
    assert not (tmp_path / 'work').exists()


def test_the_study_refuses_a_seed_twice_before_any_run(tmp_path, monkeypatch):
    """run_study_seeds([0, 1, 0]) trained seed 0 twice into the same
    folders, the second run over the first, and the summary reported a
    standard deviation of 0 (the ablation sweep refused it); the tool's
    flag is tested in test_seed_flags."""
    from mae_plugin.experiments import seed_summary
    runs = []
    monkeypatch.setattr(seed_summary, 'run_fashion_mnist_study',
                        lambda *args, **kwargs: runs.append(kwargs['seed']))
    with pytest.raises(ValueError, match=r'^seeds must be different seeds, '
                       r'got \[0, 1, 0\]$'):
        seed_summary.run_study_seeds([0, 1, 0], str(tmp_path / 'work'),
                                     str(tmp_path / 'docs'))
    assert runs == []
