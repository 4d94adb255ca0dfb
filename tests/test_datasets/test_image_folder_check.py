"""A folder that ImageFolder would list no image from is refused before the
dataset is built, by the key or argument that names it."""
import os
import re

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mae_plugin.datasets import (IMAGE_EXTENSIONS, check_image_folder,
                                 check_image_folders)
from mae_plugin.registry import DATASETS

EXTENSIONS = ' '.join(IMAGE_EXTENSIONS)


def lists_images(root, with_label) -> bool:
    """Whether an ImageFolder of ``root`` builds (lists an image)."""
    init_default_scope('mae_plugin')
    try:
        DATASETS.build(dict(type='ImageFolder', data_root=str(root),
                            with_label=with_label))
    except RuntimeError as error:  # mmpretrain's 'Found 0 files ...'
        assert 'Found 0 files' in str(error)
        return False
    return True


@pytest.mark.parametrize('with_label', [False, True])
def test_refuses_the_folders_imagefolder_lists_nothing_from(
        tmp_path, with_label):
    """A hidden image, another extension and a broken link are no images
    to ImageFolder; with labels, neither is an image outside the class
    sub-folders."""
    (tmp_path / '._a.jpg').write_bytes(b'fork')
    (tmp_path / 'notes.txt').write_text('x')
    os.symlink(tmp_path / 'gone.jpg', tmp_path / 'b.jpg')
    if with_label:
        (tmp_path / 'c.png').write_bytes(b'png')
    (tmp_path / 'cls').mkdir()
    assert not lists_images(tmp_path, with_label)
    where = ' in class sub-folders (with_label=True)' if with_label else ''
    with pytest.raises(ValueError, match=re.escape(
            f"data_root must be a folder of images, got '{tmp_path}', "
            f'which holds none{where}; image extensions: {EXTENSIONS}')):
        check_image_folder('data_root', str(tmp_path), with_label=with_label)
    (tmp_path / 'cls' / 'd.JPG').write_bytes(b'jpeg')
    assert lists_images(tmp_path, with_label)
    assert check_image_folder('data_root', str(tmp_path),
                              with_label=with_label) == str(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"data_root must be a folder of images, got '{tmp_path}/x', "
            'which is no folder')):
        check_image_folder('data_root', str(tmp_path / 'x'))


def test_checks_every_image_folder_of_a_config_by_its_key(tmp_path):
    (tmp_path / 'train').mkdir()
    (tmp_path / 'val').mkdir()
    (tmp_path / 'val' / 'a.jpg').write_bytes(b'jpeg')
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2, dataset=dict(
                type='ImageFolder', data_root=str(tmp_path),
                data_prefix='train', with_label=False))),
        val_dataloader=dict(dataset=dict(
            type='mae_plugin.ImageFolder', data_root=str(tmp_path),
            data_prefix=dict(img_path='val'), with_label=False)),
        custom_hooks=[dict(type='Hook', dataset=dict(
            type='FashionMNISTIdx', data_root=str(tmp_path / 'none')))]))
    check_image_folders(cfg, 'val_dataloader', 'custom_hooks')
    with pytest.raises(ValueError, match=re.escape(
            'train_dataloader.dataset.dataset.data_prefix must be a folder '
            f"of images, got '{tmp_path}/train', which holds none")):
        check_image_folders(cfg, 'train_dataloader', 'val_dataloader')
    # read through an annotation file: left to the dataset
    cfg.train_dataloader.dataset.dataset.ann_file = 'train.txt'
    check_image_folders(cfg, 'train_dataloader')
