import gzip
import os

import numpy as np
import pytest

from mae_plugin.datasets import FashionMNISTIdx
from mae_plugin.registry import DATASETS
from tests.fashion_mnist_files import write_fake_fashion_mnist, write_idx


@pytest.mark.parametrize('compress', [True, False])
def test_reads_idx_files_gzipped_or_not(tmp_path, compress):
    data = write_fake_fashion_mnist(str(tmp_path), 30, 20, compress=compress)
    for split in ('train', 'test'):
        dataset = DATASETS.build(
            dict(type='FashionMNISTIdx', data_root=str(tmp_path), split=split))
        imgs, labels = data[split]
        assert len(dataset) == len(labels)
        info = dataset.get_data_info(7)
        assert info['img'].shape == (28, 28) and info['img'].dtype == np.uint8
        np.testing.assert_array_equal(info['img'], imgs[7])
        assert int(info['gt_label']) == labels[7]
    assert dataset.metainfo['classes'][0] == 'T-shirt/top'


def test_pipeline_gives_one_channel_inputs_and_subsets(tmp_path):
    write_fake_fashion_mnist(str(tmp_path), 30, 20)
    dataset = FashionMNISTIdx(
        data_root=str(tmp_path),
        split='train',
        indices=12,
        pipeline=[dict(type='PackInputs')])
    assert len(dataset) == 12
    sample = dataset[3]
    assert tuple(sample['inputs'].shape) == (1, 28, 28)
    assert int(sample['data_samples'].gt_label) == 3


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='data_root'):
        FashionMNISTIdx(data_root=str(tmp_path / 'nowhere'))
    with pytest.raises(TypeError, match='data_root must be a folder path'):
        FashionMNISTIdx(data_root=None)
    with pytest.raises(ValueError, match='split'):
        FashionMNISTIdx(data_root=str(tmp_path), split='val')
    write_fake_fashion_mnist(str(tmp_path), 30, 20)
    os.remove(tmp_path / 't10k-labels-idx1-ubyte.gz')
    with pytest.raises(FileNotFoundError, match='t10k-labels-idx1-ubyte'):
        FashionMNISTIdx(data_root=str(tmp_path), split='test')


IMAGES = 'train-images-idx3-ubyte'


def cut_in_half(path):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])


@pytest.mark.parametrize('compress, name, damage, message', [
    (True, IMAGES + '.gz', cut_in_half,
     'truncated or damaged gzip file .*end-of-stream marker'),
    (True, IMAGES + '.gz',
     lambda path: open(path, 'wb').write(b'<html>404</html>'),
     'truncated or damaged gzip file .*Not a gzipped file'),
    (True, IMAGES + '.gz',
     lambda path: open(path, 'wb').write(gzip.compress(bytes(40))),
     "magic number '00 00 00 00', expected '00 00 08 03'"),
    (False, IMAGES,
     lambda path: open(path, 'ab').write(b'\0'),
     r'23521 values after the header, expected 23520 for its shape '
     r'\(30, 28, 28\)'),
    (False, IMAGES, cut_in_half, 'values after the header, expected 23520'),
    (False, 'train-labels-idx1-ubyte',
     lambda path: write_idx(path, np.arange(30, dtype=np.uint8) % 10 + 5,
                            compress=False),
     r'label 14 is outside 0\.\.9, the 10 classes'),
])
def test_damaged_files_are_named(tmp_path, compress, name, damage, message):
    write_fake_fashion_mnist(str(tmp_path), 30, 20, compress=compress)
    path = str(tmp_path / name)
    damage(path)
    with pytest.raises(ValueError, match=message) as error:
        FashionMNISTIdx(data_root=str(tmp_path))
    assert path in str(error.value)
