"""Write small data sets in the idx format of (Fashion-)MNIST."""
import gzip
import os.path as osp
import struct

import numpy as np

IDX_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}


def write_idx(path: str, array: np.ndarray, compress: bool = True) -> None:
    """uint8 array -> idx file (magic 0x08 0x<ndim>, big-endian sizes)."""
    header = struct.pack('>I', 0x0800 + array.ndim)
    header += struct.pack(f'>{array.ndim}I', *array.shape)
    opener = gzip.open if compress else open
    with opener(path + ('.gz' if compress else ''), 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


def class_images(labels: np.ndarray,
                 rng: np.random.Generator,
                 size: int = 28) -> np.ndarray:
    """Noisy images whose class sets the row of a bright bar."""
    imgs = rng.integers(0, 60, (len(labels), size, size))
    for img, label in zip(imgs, labels):
        row = 2 + 2 * int(label)
        img[row:row + 3, 4:size - 4] = 230
    return imgs.astype(np.uint8)


def write_fake_fashion_mnist(root: str,
                             num_train: int = 200,
                             num_test: int = 100,
                             compress: bool = True,
                             seed: int = 0) -> dict:
    """The four Fashion-MNIST files with ``num_train``/``num_test`` images
    of 10 classes; returns ``{split: (images, labels)}``."""
    rng = np.random.default_rng(seed)
    data = {}
    for split, num in (('train', num_train), ('test', num_test)):
        labels = np.arange(num) % 10
        imgs = class_images(labels, rng)
        images_file, labels_file = IDX_FILES[split]
        write_idx(osp.join(root, images_file), imgs, compress)
        write_idx(
            osp.join(root, labels_file), labels.astype(np.uint8), compress)
        data[split] = (imgs, labels)
    return data
