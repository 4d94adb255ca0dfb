"""Fashion-MNIST read from its idx files, with no download."""
import os.path as osp
from typing import List

import numpy as np
from mmpretrain.datasets import FashionMNIST
from mmpretrain.datasets.mnist import read_sn3_pascalvincent_tensor

from mae_plugin.registry import DATASETS
from mae_plugin.utils import check_choice

#: Where Debian's ``dataset-fashion-mnist`` package puts the files.
DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist'


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

    def _read(self, name: str, ndim: int) -> np.ndarray:
        """Read one idx file as a uint8 array of ``ndim`` dimensions."""
        path = self._idx_file(name)
        array = read_sn3_pascalvincent_tensor(path).numpy()
        if array.dtype != np.uint8 or array.ndim != ndim:
            raise ValueError(f'{path} holds {array.dtype} data of shape '
                             f'{array.shape}, expected {ndim}-D uint8')
        return array

    def load_data_list(self) -> List[dict]:
        """Read images and labels of the split."""
        images, labels = (
            self.train_list if self.split == 'train' else self.test_list)
        imgs = self._read(images[0], ndim=3)  # [N, H, W]
        gt_labels = self._read(labels[0], ndim=1)  # [N]
        if len(imgs) != len(gt_labels):
            raise ValueError(f'{len(imgs)} images but {len(gt_labels)} '
                             f'labels in {self.data_prefix["root"]!r}')
        return [
            dict(img=img, gt_label=np.array(label, dtype=np.int64))
            for img, label in zip(imgs, gt_labels)
        ]
