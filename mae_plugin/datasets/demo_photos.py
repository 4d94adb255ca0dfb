"""A small photo folder for the CPU demo, built from images that ship inside
pip packages (scikit-image's ``skimage.data`` and scikit-learn's sample
images), so the demo needs no download."""
import os
import os.path as osp
from typing import List

import cv2
import numpy as np

from mae_plugin.utils import check_output_folder

# Colour photographs of natural scenes and objects in skimage.data.
SKIMAGE_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket',
                  'hubble_deep_field', 'immunohistochemistry', 'retina')
# Grey-level photographs, stored as 3-channel images.
SKIMAGE_GRAY = ('camera', 'moon', 'coins', 'grass', 'gravel', 'brick',
                'clock')


def packaged_photos() -> List[tuple]:
    """``(name, RGB uint8 [H, W, 3])`` of every packaged photo."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = []
    for name in SKIMAGE_PHOTOS + SKIMAGE_GRAY:
        img = np.asarray(getattr(data, name)())
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        photos.append((name, img[..., :3].astype(np.uint8)))
    sample = load_sample_images()
    for fname, img in zip(sample.filenames, sample.images):
        photos.append((osp.splitext(osp.basename(fname))[0], img))
    return photos


def export_demo_photos(out_dir: str) -> List[str]:
    """Write the packaged photos as JPEG files (RGB photos, handed to
    OpenCV as BGR).

    Args:
        out_dir (str): Target folder, created when missing.

    Returns:
        list[str]: the written paths.

    Raises:
        ValueError: ``out_dir`` is empty.
        NotADirectoryError: ``out_dir``, or a folder above it, is a file.
        PermissionError: No file can be created there.
    """
    check_output_folder('out_dir', out_dir)  # before the photos are read
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, rgb in packaged_photos():
        path = osp.join(out_dir, f'{name}.jpg')
        if not cv2.imwrite(path, rgb[..., ::-1],
                           [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f'could not write {path}')
        paths.append(path)
    return paths
