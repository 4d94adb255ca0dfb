"""mae_plugin.utils.checks: what each check accepts, what it returns, and
the exact message (``<name> must be <rule>, got <value>``) it raises."""
import argparse
import math
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch

from mae_plugin.utils import (argparse_type, check_bool, check_choice,
                              check_choices, check_device, check_img_size,
                              check_int, check_number, check_output_file,
                              check_output_folder, check_pair,
                              check_positive_int, check_range, check_seeds)
from ..conftest import ABSENT_CUDA


def raises(error, message):
    """``pytest.raises`` matching the whole message literally."""
    return pytest.raises(error, match=f'^{re.escape(message)}$')


def test_check_int_accepts_and_converts_numpy_ints():
    assert check_int('n', 3) == 3
    value = check_int('n', np.int64(4), minimum=4)
    assert value == 4 and type(value) is int
    assert check_int('n', 0, minimum=0, maximum=0) == 0
    assert check_int('n', -7, maximum=-7) == -7


def test_check_int_messages():
    with raises(TypeError, "n must be an int, got True (bool)"):
        check_int('n', True)
    with raises(TypeError, "n must be an int >= 1, got 2.0 (float)"):
        check_int('n', 2.0, minimum=1)
    with raises(ValueError, 'n must be an int >= 1, got 0'):
        check_int('n', 0, minimum=1)
    with raises(ValueError, 'n must be an int in [0, 255], got 256'):
        check_int('n', 256, minimum=0, maximum=255)
    with raises(ValueError, 'n must be an int <= 3, got 4'):
        check_int('n', np.int32(4), maximum=3)


def test_check_positive_int():
    assert check_positive_int('depth', np.uint8(1)) == 1
    with raises(ValueError, 'depth must be an int >= 1, got 0'):
        check_positive_int('depth', 0)
    with raises(TypeError, "depth must be an int >= 1, got '2' (str)"):
        check_positive_int('depth', '2')


def test_check_number_accepts_ints_floats_and_numpy():
    value = check_number('lr', 1)
    assert value == 1.0 and type(value) is float
    assert check_number('lr', np.float32(0.5), 0, 1) == 0.5
    assert check_number('lr', math.inf) == math.inf
    assert check_number('ratio', 0, 0, 1, high_open=True) == 0.0


def test_check_number_messages():
    with raises(TypeError, 'lr must be a number, got False (bool)'):
        check_number('lr', False)
    with raises(TypeError, "lr must be a number, got None (NoneType)"):
        check_number('lr', None)
    with raises(ValueError, 'lr must be a number, got nan'):
        check_number('lr', math.nan)
    with raises(ValueError, 'ratio must be a number in [0, 1), got 1.0'):
        check_number('ratio', 1, 0, 1, high_open=True)
    with raises(ValueError, 't must be a number in (0, inf], got 0.0'):
        check_number('t', 0, 0, low_open=True)
    with raises(ValueError, 'ratio must be a number in [0, 1], got nan'):
        check_number('ratio', np.float64('nan'), 0, 1)


def test_check_number_refuses_ints_beyond_the_float_range():
    # float(10 ** 400) raises OverflowError, which neither callers nor
    # argparse_type expect
    with raises(ValueError, 'lr must be a number within the float range, '
                'got an int of 401 digits'):
        check_number('lr', 10**400)
    with raises(ValueError, 'lr must be a number in [0, 1] within the float '
                'range, got an int of 310 digits'):
        check_number('lr', -10**309, 0, 1)
    parser = parser_with(
        steps=dict(type=argparse_type(check_number, 'steps', int, low=0)))
    with pytest.raises(RuntimeError) as error:
        parser.parse_args(['--steps', '1' + '0' * 400])
    assert str(error.value) == ('argument --steps: steps must be a number in '
                                '[0, inf] within the float range, got an int '
                                'of 401 digits')


def test_check_bool():
    assert check_bool('flag', True) is True
    with raises(TypeError, 'flag must be True or False, got 1 (int)'):
        check_bool('flag', 1)
    with raises(TypeError, "flag must be True or False, got 'yes' (str)"):
        check_bool('flag', 'yes')


def test_check_pair_and_img_size():
    assert check_pair('scale', 224) == (224, 224)
    assert check_pair('scale', [np.int64(24), 40]) == (24, 40)
    assert check_img_size((32, 48)) == (32, 48)
    rule = 'an int or a pair (H, W) of ints >= 1'
    with raises(ValueError, f'scale must be {rule}, got [0, 40]'):
        check_pair('scale', [0, 40])
    with raises(ValueError, f'scale must be {rule}, got 0'):
        check_pair('scale', 0)
    with raises(TypeError, f'scale must be {rule}, got (24,) (tuple)'):
        check_pair('scale', (24, ))
    with raises(TypeError, f'scale must be {rule}, got True (bool)'):
        check_pair('scale', True)
    with raises(TypeError, f'img_size must be {rule}, got (24, 2.5) (tuple)'):
        check_img_size((24, 2.5))


def test_check_range():
    assert check_range('crop', [0.2, 1], top=1) == (0.2, 1.0)
    assert check_range('crop', np.array([0.5, 2.0])) == (0.5, 2.0)
    rule = 'two numbers (min, max) with 0 < min <= max <= 1'
    for bad in (0.5, 'ab', (0.5, 0.2), (0, 1), (0.2, 1.5), (0.2, math.nan),
                (True, 1), (0.1, 0.2, 0.3)):
        with raises(ValueError, f'crop must be {rule}, got {bad!r}'):
            check_range('crop', bad, top=1)
    with pytest.raises(ValueError, match='<= inf'):
        check_range('aspect', (1, math.inf))


def test_check_choice_and_choices():
    assert check_choice('on_error', 'skip', ('raise', 'skip')) == 'skip'
    with raises(ValueError,
                "on_error must be one of ('raise', 'skip'), got 'ignore'"):
        check_choice('on_error', 'ignore', ['raise', 'skip'])
    assert check_choices('metrics', ('a', 'b'), 'abc') == ['a', 'b']
    with raises(ValueError,
                "metrics must be among ('a', 'b'), got ['x', 'y']"):
        check_choices('metrics', ['a', 'x', 'y'], ('a', 'b'))


def test_check_device_refuses_a_cuda_device_torch_does_not_see():
    assert check_device('device', 'cpu') == torch.device('cpu')
    assert check_device('device', torch.device('cpu', 0)).index == 0
    count = torch.cuda.device_count()
    with raises(ValueError, f'device must be cpu or one of the {count} CUDA '
                f"devices torch sees here, got '{ABSENT_CUDA}' (str)"):
        check_device('device', ABSENT_CUDA)
    with raises(ValueError, 'device must be a torch device (cpu, cuda, '
                "cuda:0, ...), got 'gpu' (str)"):
        check_device('device', 'gpu')


def parser_with(**arguments):
    """An ``ArgumentParser`` that exits with an exception, not a process
    exit, and writes nothing."""

    class Parser(argparse.ArgumentParser):

        def error(self, message):
            raise RuntimeError(message)

    parser = Parser()
    for flag, kwargs in arguments.items():
        parser.add_argument(f'--{flag}', **kwargs)
    return parser


def test_argparse_type_through_a_real_parser():
    parser = parser_with(
        rounds=dict(type=argparse_type(check_positive_int, 'rounds')),
        ratio=dict(
            type=argparse_type(check_number, 'ratio', float, low=0, high=1)))
    args = parser.parse_args(['--rounds', '3', '--ratio', '0.25'])
    assert args.rounds == 3 and args.ratio == 0.25
    with pytest.raises(RuntimeError) as error:
        parser.parse_args(['--rounds', '0'])
    assert str(error.value) == ('argument --rounds: rounds must be an int '
                                '>= 1, got 0')
    with pytest.raises(RuntimeError) as error:
        parser.parse_args(['--rounds', 'two'])
    assert str(error.value) == ("argument --rounds: rounds must be int, got "
                                "'two'")
    with pytest.raises(RuntimeError) as error:
        parser.parse_args(['--ratio', 'nan'])
    assert str(error.value) == ('argument --ratio: ratio must be a number in '
                                '[0, 1], got nan')


def test_check_output_file(tmp_path):
    source = tmp_path / 'in.pth'
    source.write_bytes(b'weights')
    link = tmp_path / 'link.pth'
    link.symlink_to(source)
    new = str(tmp_path / 'new' / 'out.pth')
    assert check_output_file('dst', new, [str(source)]) == new
    assert check_output_file('dst', str(source)) == str(source)
    assert check_output_file('dst', source) == str(source)  # as the folder's
    with raises(TypeError, 'dst must be a path (str or os.PathLike), got 5 '
                '(int)'):
        check_output_file('dst', 5)
    for folder in (str(tmp_path), f'{tmp_path}/new/'):  # existing or not
        with raises(IsADirectoryError,
                    f'dst must be a file to write, got the folder {folder}'):
            check_output_file('dst', folder, [str(source)])
    with raises(ValueError, f'dst must be another file than the input '
                f'{source} (writing it would overwrite the input), got '
                f'{link}'):
        check_output_file('dst', str(link), [new, str(source)])


def test_output_paths_under_a_file_or_an_unwritable_folder(tmp_path):
    """A file among the folders above the output was reported by the
    writer's makedirs as "File exists: '<the file>'", after the work; a
    folder that takes no file (/proc, even for root) as "No such file or
    directory" of the writer's temporary file. The project runs on Linux
    (README), which always has /proc: no skip."""
    assert osp.isdir('/proc/self')
    photo = tmp_path / 'a.jpg'
    photo.write_bytes(b'jpeg')
    for path in (f'{photo}/x.pth', f'{photo}/new/x.pth'):
        with raises(NotADirectoryError, f'dst must be a path in a folder, '
                    f'got {path}: {photo} is a file, not a folder'):
            check_output_file('dst', path)
        with raises(NotADirectoryError, f'out_dir must be a path in a '
                    f'folder, got {path}: {photo} is a file, not a folder'):
            check_output_folder('out_dir', path)
    for path in ('/proc/x.pth', '/proc/new/x.pth'):
        with raises(PermissionError, f'dst must be a path in a folder that '
                    f'can be written, got {path}: no file can be created in '
                    '/proc (No such file or directory)'):
            check_output_file('dst', path)
    with raises(NotADirectoryError, f'out_dir must be a folder, got the file '
                f'{photo}'):
        check_output_folder('out_dir', str(photo))
    for check in (check_output_file, check_output_folder):
        with raises(ValueError, "out must be a non-empty path, got ''"):
            check('out', '')
    # folders made when the output is written pass; nothing is made
    new = tmp_path / 'new' / 'deeper'
    assert check_output_folder('out_dir', new) == str(new)
    assert check_output_file('dst', 'x.pth') == 'x.pth'  # the working dir
    assert sorted(os.listdir(tmp_path)) == ['a.jpg']
    parser = parser_with(**{'out-dir': dict(
        type=argparse_type(check_output_folder, 'out_dir', str))})
    with pytest.raises(RuntimeError) as error:
        parser.parse_args(['--out-dir', str(photo)])
    assert str(error.value) == (
        f'argument --out-dir: out_dir must be a folder, got the file {photo}')


def test_check_seeds_refuses_a_seed_twice_and_too_few():
    assert check_seeds('seeds', (3, 1)) == [3, 1]
    with pytest.raises(ValueError,
                       match=r'^seeds must be different seeds, got \[0, 0\]$'):
        check_seeds('seeds', [0, 0])
    with pytest.raises(ValueError, match=r'^seeds must be at least 2 '
                       r'different seeds, got \[5\]$'):
        check_seeds('seeds', [5], minimum=2)
    with pytest.raises(ValueError, match=r'^seeds\[1\] must be an int in'):
        check_seeds('seeds', [0, -1])
    with pytest.raises(TypeError, match='seeds must be a list of seeds'):
        check_seeds('seeds', 3)
