"""Fashion-MNIST read from its idx files, with no download."""
import gzip
import math
import os
import os.path as osp
import struct
import zlib
from typing import List

import numpy as np
from mmpretrain.datasets import FashionMNIST

from mae_plugin.registry import DATASETS
from mae_plugin.utils import check_choice

#: Where Debian's ``dataset-fashion-mnist`` package puts the files.
DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist'


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Read an idx file of ``ndim``-dimensional ``uint8`` data (gzipped
    when its name ends with ``.gz``): the magic number ``00 00 08
    ndim``, the ``ndim`` sizes as big-endian 32-bit integers, then the
    values.

    Raises:
        ValueError: The file is a truncated or damaged gzip file, has
            another magic number, or holds more or fewer values than its
            header says; the message names ``path`` and the fault.
    """
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(
            f'{path}: truncated or damaged gzip file ({error})') from None
    magic = bytes((0, 0, 8, ndim))
    if data[:4] != magic:
        raise ValueError(
            f'{path}: magic number {data[:4].hex(" ")!r}, expected '
            f'{magic.hex(" ")!r} (an idx file of {ndim}-D uint8 data)')
    offset = 4 * (ndim + 1)
    if len(data) < offset:
        raise ValueError(f'{path}: {len(data)} bytes, shorter than the '
                         f'{offset}-byte header')
    shape = struct.unpack(f'>{ndim}I', data[4:offset])
    if len(data) != offset + math.prod(shape):
        raise ValueError(
            f'{path}: {len(data) - offset} values after the header, '
            f'expected {math.prod(shape)} for its shape {shape} '
            '(truncated or padded)')
    return np.frombuffer(data, np.uint8, offset=offset).reshape(shape)


@DATASETS.register_module()
class FashionMNISTIdx(FashionMNIST):
    """Fashion-MNIST (Xiao et al., 2017): 60k training and 10k test images,
    28x28 grey levels, 10 classes.

    Unlike :class:`mmpretrain.datasets.FashionMNIST`, which wants the
    decompressed files and otherwise downloads them, this reads the four idx
    files as they are distributed, gzipped (``train-images-idx3-ubyte.gz``)
    or not, from a possibly read-only folder such as the one of Debian's
    ``dataset-fashion-mnist`` package, and never goes to the network.

    Each sample is ``dict(img=uint8 [28, 28], gt_label=int64)``, so the
    image pipeline sees a 1-channel image.

    Args:
        data_root (str): Folder with the idx files. Defaults to
            :data:`DEBIAN_FASHION_MNIST`.
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`
            (``pipeline``, ``indices`` for a subset, ``test_mode`` ...).
    """

    def __init__(self,
                 data_root: str = DEBIAN_FASHION_MNIST,
                 split: str = 'train',
                 **kwargs) -> None:
        check_choice('split', split, ('train', 'test'))
        if not isinstance(data_root, (str, os.PathLike)):
            raise TypeError(f'data_root must be a folder path, got '
                            f'{data_root!r}')
        if not osp.isdir(data_root):
            raise FileNotFoundError(
                f'data_root {data_root!r} of Fashion-MNIST does not exist; '
                'install it with `apt-get install dataset-fashion-mnist` or '
                'put the four idx files from '
                'https://github.com/zalandoresearch/fashion-mnist there')
        super().__init__(
            data_root=data_root, split=split, download=False, **kwargs)

    def _idx_file(self, name: str) -> str:
        """Path of a gzipped or a plain idx file of ``data_root``."""
        root = self.data_prefix['root']
        for candidate in (name, name[:-len('.gz')]):
            path = osp.join(root, candidate)
            if osp.isfile(path):
                return path
        raise FileNotFoundError(
            f'{name} (gzipped or not) is missing from data_root {root!r}')

    def load_data_list(self) -> List[dict]:
        """Read images and labels of the split.

        Raises:
            ValueError: A file is damaged (see :func:`read_idx`), a label
                is not that of one of the classes, or the files hold
                different numbers of images and labels.
        """
        images, labels = (
            self.train_list if self.split == 'train' else self.test_list)
        imgs = read_idx(self._idx_file(images[0]), ndim=3)  # [N, H, W]
        labels_path = self._idx_file(labels[0])
        gt_labels = read_idx(labels_path, ndim=1)  # [N]
        num_classes = len(self.metainfo['classes'])
        if gt_labels.size and gt_labels.max() >= num_classes:
            raise ValueError(
                f'{labels_path}: label {gt_labels.max()} is outside '
                f'0..{num_classes - 1}, the {num_classes} classes')
        if len(imgs) != len(gt_labels):
            raise ValueError(f'{len(imgs)} images but {len(gt_labels)} '
                             f'labels in {self.data_prefix["root"]!r}')
        return [
            dict(img=img, gt_label=np.array(label, dtype=np.int64))
            for img, label in zip(imgs, gt_labels)
        ]
