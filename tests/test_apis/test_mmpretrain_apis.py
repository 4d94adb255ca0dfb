"""mmpretrain's own entry points on the plugin's configs and checkpoints:
its inferencers build the model and the test pipeline in mmpretrain's
scope and load each input themselves."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmpretrain.apis import ImageClassificationInferencer

from mae_plugin.datasets import RobustLoadImageFromFile
from mae_plugin.registry import MODELS, TRANSFORMS
from ..conftest import ROOT, TINY_ARCH

FINETUNE = osp.join(ROOT, 'configs', 'benchmarks', 'classification',
                    'vit-base-p16_8xb128-coslr-100e_in1k.py')
LINEAR = osp.join(ROOT, 'configs', 'benchmarks', 'classification',
                  'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py')


def tiny_classifier(config):
    """A classification benchmark config at TINY_ARCH's size on 32 px
    crops of 2 classes, without its pretrained init."""
    cfg = Config.fromfile(config)
    backbone = cfg.model.backbone
    backbone.arch, backbone.img_size, backbone.patch_size = TINY_ARCH, 32, 8
    backbone.init_cfg = None
    if cfg.model.neck is not None:  # the linear probe's BatchNorm
        cfg.model.neck.input_features = 32
    cfg.model.head.update(num_classes=2, in_channels=32)
    cfg.model.pop('train_cfg', None)  # Mixup / CutMix for 1000 classes
    cfg.data_preprocessor.num_classes = 2
    pipeline = cfg.test_dataloader.dataset.pipeline
    pipeline[1].scale, pipeline[2].crop_size = 36, 32
    return cfg


@pytest.mark.parametrize('config', [FINETUNE, LINEAR],
                         ids=['finetune', 'linear'])
def test_image_classification_inferencer_takes_a_benchmark_config(
        config, image, tmp_path):
    """mmpretrain's ``ImageClassificationInferencer`` failed on the
    plugin's classification configs: ``KeyError:
    'RobustLoadImageFromFile is not in the mmpretrain::transform
    registry'`` (the test pipeline's loader, unscoped), and the inferencer,
    which drops mmcv's ``LoadImageFromFile`` and reads each input itself,
    left the plugin's loader a ``KeyError: 'img_path'``. It now gives the
    scores of the plugin's own test path."""
    cfg = tiny_classifier(config)
    with DefaultScope.overwrite_default_scope('mae_plugin'):
        model = MODELS.build(
            dict(**cfg.model, data_preprocessor=cfg.data_preprocessor))
        pipeline = Compose([
            TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline
        ])
    checkpoint = str(tmp_path / 'classifier.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    data = pipeline(dict(img_path=image))
    with torch.no_grad():
        expected = model.eval().test_step(
            dict(inputs=[data['inputs']],
                 data_samples=[data['data_samples']]))[0].pred_score

    # as a user's script: no default scope set
    assert DefaultScope.get_current_instance() is None
    inferencer = ImageClassificationInferencer(cfg, pretrained=checkpoint)
    result = inferencer(image)[0]
    assert type(inferencer.model.backbone) is type(model.backbone)
    torch.testing.assert_close(
        torch.as_tensor(result['pred_scores']), expected)
    assert result['pred_label'] == int(expected.argmax())


@pytest.mark.parametrize('color_type', ['color', 'grayscale'])
@pytest.mark.parametrize('to_float32', [False, True])
def test_the_loader_passes_on_an_image_given_without_a_path(
        image, color_type, to_float32):
    """An inferencer's ``dict(img=...)`` (mmcv's BGR ``imread``) comes
    out as the file loaded by the same loader."""
    loader = RobustLoadImageFromFile(
        color_type=color_type, to_float32=to_float32)
    from_file = loader(dict(img_path=image))
    given = loader(dict(img=cv2.imread(image)))
    assert given['img'].dtype == from_file['img'].dtype
    np.testing.assert_array_equal(given['img'], from_file['img'])
    assert given['img_shape'] == given['ori_shape'] == (32, 32)


def test_the_loader_names_what_it_misses():
    loader = RobustLoadImageFromFile()
    with pytest.raises(KeyError, match='img_path'):
        loader(dict())
    with pytest.raises(TypeError, match=r"results\['img'\] must be a NumPy "
                       'image, got str'):
        loader(dict(img='img.png'))
