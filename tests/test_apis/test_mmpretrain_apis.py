"""mmpretrain's own entry points on the plugin's configs and checkpoints:
``get_model`` and its inferencers build the model and the test pipeline
in mmpretrain's scope, and the inferencers load each input themselves."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope, init_default_scope
from mmpretrain.apis import (FeatureExtractor, ImageClassificationInferencer,
                             get_model)

from mae_plugin.datasets import RobustLoadImageFromFile
from mae_plugin.registry import MODELS, TRANSFORMS
from ..conftest import ROOT, TINY_ARCH, tiny_mae_cfg

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


def plugin_side(cfg, image, checkpoint):
    """The config's model and test pipeline built in the plugin's scope,
    the model saved to ``checkpoint``, and ``image`` through the pipeline
    and the model's data preprocessor; mmpretrain's scope set after."""
    with DefaultScope.overwrite_default_scope('mae_plugin'):
        model = MODELS.build(cfg.model).eval()
        pipeline = Compose([
            TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline
        ])
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    data = pipeline(dict(img_path=image))
    batch = dict(
        inputs=data['inputs'][None], data_samples=[data['data_samples']])
    # then as in a script of mmpretrain's (the fixture _isolated_globals
    # restores the scope after the test)
    init_default_scope('mmpretrain')
    return model, batch


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
    cfg.model.data_preprocessor = cfg.data_preprocessor
    checkpoint = str(tmp_path / 'classifier.pth')
    model, batch = plugin_side(cfg, image, checkpoint)
    with torch.no_grad():
        expected = model.test_step(batch)[0].pred_score

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


DEMO = osp.join(ROOT, 'configs', 'mae',
                'mae_vit-tiny-p8_1xb32-coslr_demo-photos.py')


def tiny_pretraining():
    """The demo pretraining config with the tiny MAE on 32 px images."""
    cfg = Config.fromfile(DEMO)
    cfg.model = tiny_mae_cfg()
    pipeline = cfg.test_dataloader.dataset.pipeline
    pipeline[1].scale, pipeline[2].crop_size = 32, 32
    return cfg


def test_mmpretrain_get_model_and_feature_extractor_take_a_mae_config(
        image, tmp_path):
    """``mmpretrain.apis.get_model`` builds in mmpretrain's scope, where
    the config's ``type='MAE'`` was mmpretrain's own ``MAE`` (``TypeError:
    MAEViT.__init__() got an unexpected keyword argument
    'in_channels'``). The config's model is now the plugin's there, loads
    a plugin checkpoint, and mmpretrain's ``FeatureExtractor`` gives the
    features of the plugin's own path."""
    cfg = tiny_pretraining()
    checkpoint = str(tmp_path / 'mae.pth')
    plugin, batch = plugin_side(cfg, image, checkpoint)
    with torch.no_grad():
        inputs = plugin.data_preprocessor(batch)['inputs']
        expected = plugin.extract_feat(inputs)[0][0]

    model = get_model(cfg, pretrained=checkpoint)
    assert type(model) is type(plugin)
    assert type(model.backbone) is type(plugin.backbone)
    for key, value in plugin.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    features = FeatureExtractor(model)(image)[0]
    torch.testing.assert_close(features[0], expected)
