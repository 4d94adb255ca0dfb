"""tools/dataset_converters/prepare_demo_photos.py: the output folder is
checked before the photos are read."""
import re

import pytest

from mae_plugin.datasets import export_demo_photos
from .test_train_test_visualize import run_tool


def test_an_out_dir_that_is_a_file_is_named_by_flag(tmp_path):
    """Was os.makedirs' FileExistsError traceback."""
    photo = tmp_path / 'a.jpg'
    photo.write_bytes(b'jpeg')
    for out_dir, why in ((photo, f'must be a folder, got the file {photo}'),
                         (f'{photo}/photos', f'must be a path in a folder, '
                          f'got {photo}/photos: {photo} is a file, not a '
                          'folder')):
        result = run_tool('tools/dataset_converters/prepare_demo_photos.py',
                          '--out-dir', str(out_dir))
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1] == (
            f'prepare_demo_photos.py: error: argument --out-dir: out_dir '
            f'{why}')
        with pytest.raises(NotADirectoryError,
                           match=f'^out_dir {re.escape(why)}$'):
            export_demo_photos(str(out_dir))
    assert photo.read_bytes() == b'jpeg'
