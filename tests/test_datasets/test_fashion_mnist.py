import os

import numpy as np
import pytest

from mae_plugin.datasets import FashionMNISTIdx
from mae_plugin.registry import DATASETS
from tests.fashion_mnist_files import write_fake_fashion_mnist


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
    with pytest.raises(ValueError, match='split'):
        FashionMNISTIdx(data_root=str(tmp_path), split='val')
    write_fake_fashion_mnist(str(tmp_path), 30, 20)
    os.remove(tmp_path / 't10k-labels-idx1-ubyte.gz')
    with pytest.raises(FileNotFoundError, match='t10k-labels-idx1-ubyte'):
        FashionMNISTIdx(data_root=str(tmp_path), split='test')
