"""The mmdet and mmseg transfer configs: they build, load a checkpoint of
tools/train.py's pretraining, train 2 iterations and validate once on tiny
generated data sets (COCO json with boxes and masks; ADE20K layout)."""
import copy
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.optim import build_optim_wrapper
from mmengine.registry import OPTIM_WRAPPERS, DefaultScope
from mmengine.runner import Runner
from torch import nn

from mae_plugin.apis import test_config as make_test_config
from mae_plugin.apis import train_config
from mae_plugin.apis.config_checks import check_test_config
from mae_plugin.engine import AutocastOptimWrapper
from mae_plugin.models import MAEViT
from tests.conftest import ROOT
from tests.test_tools.test_train_test_visualize import (  # noqa: F401
    CONFIG, TINY, crop_size_overrides, photos, run)

DET_CONFIG = osp.join(
    ROOT, 'configs', 'benchmarks', 'mmdetection',
    'mask-rcnn_mae-vit-base-p16_simple-fpn_32xb2-lsj-100e_coco.py')
# ViTDet's ViT-H: a ViT-H/14 encoder detecting with 16-pixel patches
H_DET_CONFIG = osp.join(
    ROOT, 'configs', 'benchmarks', 'mmdetection',
    'mask-rcnn_mae-vit-huge-p14to16_simple-fpn_32xb2-lsj-75e_coco.py')
SEG_CONFIG = osp.join(
    ROOT, 'configs', 'benchmarks', 'mmsegmentation',
    'upernet_mae-vit-base-p16_8xb2-160k_ade20k-512x512.py')
# The pretraining TINY arch with 4 blocks (UperNet reads four): 32 wide,
# 2 heads, patch 8, 32x32.
TINY_ENCODER = dict(
    arch=dict(
        embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64),
    pretrain_img_size=32,
    patch_size=8)
#: TINY_ENCODER as ``--cfg-options`` (a dict ``arch`` replaces the name)
TINY_ENCODER_OPTIONS = {
    'model.backbone.arch': dict(_delete_=True, **TINY_ENCODER['arch']),
    'model.backbone.pretrain_img_size': TINY_ENCODER['pretrain_img_size'],
    'model.backbone.patch_size': TINY_ENCODER['patch_size'],
}


@pytest.fixture(scope='module')
def pretrained(photos, tmp_path_factory):  # noqa: F811
    """A checkpoint written by one epoch of tools/train.py pretraining of
    a 4-block encoder."""
    work = str(tmp_path_factory.mktemp('pretrain'))
    run('tools/train.py', CONFIG, '--work-dir', work, '--cfg-options',
        *TINY, *crop_size_overrides(photos), 'train_cfg.max_epochs=1',
        'model.backbone.arch.num_layers=4')
    return osp.join(work, 'epoch_1.pth')


def encoder_keys(checkpoint):
    state_dict = torch.load(
        checkpoint, map_location='cpu', weights_only=True)['state_dict']
    return [k for k in state_dict if k.startswith('backbone.')]


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    """Two 64x64 images with a filled rectangle and a filled disk each."""
    root = tmp_path_factory.mktemp('coco')
    os.makedirs(root / 'images')
    images, annotations = [], []
    for i in range(2):
        img = np.full((64, 64, 3), 40, np.uint8)
        x0, y0 = 6 + 8 * i, 8
        cv2.rectangle(img, (x0, y0), (x0 + 23, y0 + 19), (200, 60, 60), -1)
        cv2.circle(img, (44, 44 - 4 * i), 12, (60, 200, 60), -1)
        cv2.imwrite(str(root / 'images' / f'{i}.jpg'), img)
        images.append(dict(id=i, file_name=f'{i}.jpg', height=64, width=64))
        box = [x0, y0, 24, 20]
        square = [x0, y0, x0 + 24, y0, x0 + 24, y0 + 20, x0, y0 + 20]
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        disk = np.stack([44 + 12 * np.cos(angles),
                         44 - 4 * i + 12 * np.sin(angles)], 1)
        for category, (bbox, polygon, area) in enumerate(
            [(box, square, 480.),
             ([32, 32 - 4 * i, 24, 24], disk.ravel().tolist(), 452.)], 1):
            annotations.append(
                dict(id=len(annotations) + 1, image_id=i,
                     category_id=category, bbox=bbox,
                     segmentation=[polygon], area=area, iscrowd=0))
    ann_file = str(root / 'instances.json')
    with open(ann_file, 'w') as f:
        json.dump(
            dict(images=images, annotations=annotations,
                 categories=[dict(id=1, name='square'),
                             dict(id=2, name='disk')]), f)
    return str(root), ann_file


@pytest.fixture(scope='module')
def ade(tmp_path_factory):
    """ADE20K layout: images/{training,validation}/*.jpg with
    annotations/{training,validation}/*.png (0 = ignored, 1.. = classes)."""
    root = tmp_path_factory.mktemp('ade')
    rng = np.random.default_rng(0)
    for split in ('training', 'validation'):
        os.makedirs(root / 'images' / split)
        os.makedirs(root / 'annotations' / split)
        for i in range(2):
            label = np.ones((32, 48), np.uint8)
            label[8:24, 4 + 8 * i:28 + 8 * i] = 2
            label[:4] = 0
            img = (label[..., None] * 80 +
                   rng.integers(0, 30, (32, 48, 3))).astype(np.uint8)
            cv2.imwrite(str(root / 'images' / split / f'{i}.jpg'), img)
            cv2.imwrite(str(root / 'annotations' / split / f'{i}.png'), label)
    return str(root)


def run_log(work_dir):
    """Text of the run's log file and its json scalar records."""
    text, records = '', []
    for folder, _, files in os.walk(work_dir):
        for name in files:
            path = osp.join(folder, name)
            if name.endswith('.log'):
                with open(path) as f:
                    text += f.read()
            elif name.endswith('.json') and 'vis_data' in folder \
                    and name != 'scalars.json':
                with open(path) as f:
                    records += [json.loads(line) for line in f if line.strip()]
    return text, records


def loaded_keys(log_text):
    """``(loaded, total)`` from the backbone's loading line."""
    match = re.search(r'DenseViT: (\d+) of (\d+) keys matched',
                      log_text)
    assert match, 'no loading line in the log'
    return int(match.group(1)), int(match.group(2))


def det_cfg(work_dir, checkpoint, coco_root, ann_file):
    """The detection config at toy scale: tiny encoder, 64x64 images,
    32-channel heads, 2 classes, 2 iterations then one validation."""
    cfg = train_config(
        DET_CONFIG,
        work_dir=work_dir,
        cfg_options={
            'experiment_name': 'det',
            'model.backbone.init_cfg.checkpoint': checkpoint,
            'model.backbone.img_size': 64,
            'model.backbone.window_size': 4,
            'model.backbone.global_attn_indexes': [1],
            # stride-8 map -> strides 4, 8, 16 (+ 32, 64 pooled)
            'model.neck.in_channels': 32,
            'model.neck.out_channels': 32,
            'model.neck.patch_size': 8,  # TINY_ENCODER's
            **TINY_ENCODER_OPTIONS,
            'model.data_preprocessor.batch_augments.0.size': (64, 64),
            'model.data_preprocessor.pad_size_divisor': 64,
            'model.rpn_head.in_channels': 32,
            'model.rpn_head.feat_channels': 32,
            'model.roi_head.bbox_roi_extractor.out_channels': 32,
            'model.roi_head.mask_roi_extractor.out_channels': 32,
            'model.roi_head.bbox_head.in_channels': 32,
            'model.roi_head.bbox_head.conv_out_channels': 32,
            'model.roi_head.bbox_head.fc_out_channels': 32,
            'model.roi_head.bbox_head.num_classes': 2,
            'model.roi_head.mask_head.in_channels': 32,
            'model.roi_head.mask_head.conv_out_channels': 32,
            'model.roi_head.mask_head.num_classes': 2,
            'model.train_cfg.rpn_proposal.max_per_img': 64,
            'model.train_cfg.rcnn.sampler.num': 32,
            'model.test_cfg.rpn.max_per_img': 32,
            'train_cfg.max_iters': 2,
            'train_cfg.val_interval': 2,
            'default_hooks.logger.interval': 1,
            'randomness.seed': 0,
        })
    data = dict(data_root=coco_root, ann_file=ann_file,
                data_prefix=dict(img='images/'),
                metainfo=dict(classes=('square', 'disk')))
    train = cfg.train_dataloader
    train.update(batch_size=2, num_workers=0, persistent_workers=False)
    train.dataset.dataset.update(data)
    train.dataset.dataset.pipeline[2].scale = (64, 64)
    train.dataset.dataset.pipeline[3].crop_size = (64, 64)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        loader.update(num_workers=0, persistent_workers=False)
        loader.dataset.update(data)
        loader.dataset.pipeline[1].scale = (64, 64)
    cfg.val_evaluator.ann_file = ann_file
    cfg.test_evaluator.ann_file = ann_file
    # the visualizer is a named global: another test's would keep writing
    # its scalars to that test's work dir
    cfg.visualizer.name = work_dir
    return cfg


def seg_cfg(work_dir, checkpoint, ade_root):
    """The segmentation config at toy scale: the pretrained tiny 4-block
    encoder, 32x32 crops, 2 iterations then one validation."""
    cfg = train_config(
        SEG_CONFIG,
        work_dir=work_dir,
        cfg_options={
            'experiment_name': 'seg',
            'model.backbone.init_cfg.checkpoint': checkpoint,
            **TINY_ENCODER_OPTIONS,
            'model.backbone.img_size': 32,
            'model.backbone.out_indices': [0, 1, 2, 3],
            'model.data_preprocessor.size': (32, 32),
            'model.neck.embed_dim': 32,
            'model.decode_head.in_channels': [32] * 4,
            'model.decode_head.channels': 16,
            'model.auxiliary_head.in_channels': 32,
            'model.auxiliary_head.channels': 16,
            'model.test_cfg.crop_size': (32, 32),
            'model.test_cfg.stride': (24, 24),
            'train_cfg.max_iters': 2,
            'train_cfg.val_interval': 2,
            'default_hooks.logger.interval': 1,
            'randomness.seed': 0,
        })
    train = cfg.train_dataloader
    train.update(batch_size=2, num_workers=0, persistent_workers=False)
    train.dataset.data_root = ade_root
    train.dataset.pipeline[2].scale = (128, 32)
    train.dataset.pipeline[3].crop_size = (32, 32)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        loader.update(num_workers=0, persistent_workers=False)
        loader.dataset.data_root = ade_root
        loader.dataset.pipeline[1].scale = (128, 32)
    # the visualizer is a named global: another test's would keep writing
    # its scalars to that test's work dir
    cfg.visualizer.name = work_dir
    return cfg


@pytest.mark.parametrize('config,scope', [(DET_CONFIG, 'mmdet'),
                                          (SEG_CONFIG, 'mmseg')])
def test_full_size_config_builds(config, scope):
    """The configs as shipped (ViT-B) build their model from their scope,
    with the plugin's components and the paper's recipe."""
    cfg = Config.fromfile(config)
    assert cfg.default_scope == scope
    assert cfg.custom_imports.imports == ['mae_plugin']
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    with DefaultScope.overwrite_default_scope(scope):
        from mmengine.registry import MODELS
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'DenseViT'
    assert model.backbone.num_layers == 12
    assert model.backbone.embed_dims == 768
    # relative positions in every block, tables spanning the recipe's input
    # grid: 1024 / 16 = 64 or 512 / 16 = 32 patches a side
    grid = (1024 if scope == 'mmdet' else 512) // 16
    if scope == 'mmdet':
        # ViTDet's decomposed ones; a global block's span the whole grid
        assert all(layer.attn.use_rel_pos for layer in model.backbone.layers)
        assert [
            tuple(layer.attn.rel_pos_h.shape)
            for layer in model.backbone.layers if layer.window_size == 0
        ] == [(2 * grid - 1, 64)] * 4
        # the pretraining grid's positions, resized at each forward
        assert model.backbone.pos_embed.shape == (1, 1 + 14**2, 768)
    else:
        # BEiT's bias (the MAE paper's ADE20K setup): one scalar per head
        # and offset in the grid, plus 3 for the class token
        assert [
            tuple(layer.attn.relative_position_bias_table.shape)
            for layer in model.backbone.layers
        ] == [((2 * grid - 1)**2 + 3, 12)] * 12
        # positions trained for that grid (resized once at load), as
        # mmseg's MAE
        assert model.backbone.pos_embed.shape == (1, 1 + grid**2, 768)
    if scope == 'mmdet':
        # ViTDet's large-scale jitter: resize to 0.1-2x of 1024, crop and
        # pad to 1024x1024
        pipeline = cfg.train_dataloader.dataset.dataset.pipeline
        resize, crop = pipeline[2], pipeline[3]
        assert (resize.type, resize.scale, resize.ratio_range,
                resize.keep_ratio) == ('RandomResize', (1024, 1024),
                                       (0.1, 2.0), True)
        assert (crop.type, crop.crop_size) == ('RandomCrop', (1024, 1024))
        assert cfg.model.data_preprocessor.batch_augments == [
            dict(type='BatchFixedSizePad', size=(1024, 1024), pad_mask=True)
        ]
        assert type(model.neck).__name__ == 'SimpleFeaturePyramid'
        assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.7
        assert cfg.train_cfg.max_iters == 184375
        # `32xb2` in the name: 32 GPUs x 2 images, ViTDet's batch of 64
        assert '_32xb2-' in osp.basename(config)
        assert cfg.train_dataloader.batch_size * 32 == 64
        assert cfg.auto_scale_lr.base_batch_size == 64
        windows = [layer.window_size for layer in model.backbone.layers]
        assert windows == [14, 14, 0] * 4
    else:
        assert type(model.neck).__name__ == 'Feature2Pyramid'
        assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.65
        assert cfg.train_cfg.max_iters == 160000
        assert '_8xb2-' in osp.basename(config)
        assert cfg.train_dataloader.batch_size * 8 == 16
        assert model.backbone.out_indices == [3, 5, 7, 11]
        # 512x512 crops for training, sliding 512x512 windows for testing
        crop = cfg.train_dataloader.dataset.pipeline[3]
        assert (crop.type, crop.crop_size) == ('RandomCrop', (512, 512))
        assert cfg.model.data_preprocessor.size == (512, 512)
        assert cfg.model.test_cfg.crop_size == (512, 512)


def test_detection_tests_on_padded_inputs_of_the_training_size(tmp_path):
    """A COCO-shaped 640x427 image reaches the backbone as 1024x1024 (the
    grid of the global blocks' relative position tables), resized at the
    top left and padded at the bottom and right, so that the sizes that map
    predictions back (img_shape, scale_factor) are the resized image's."""
    cfg = Config.fromfile(DET_CONFIG)
    image = np.random.default_rng(0).integers(0, 256, (427, 640, 3),
                                              np.uint8)
    path = str(tmp_path / 'image.png')
    cv2.imwrite(path, image)
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmengine.registry import MODELS, TRANSFORMS
        pipeline = Compose([
            TRANSFORMS.build(t) for t in cfg.test_pipeline
            if t['type'] != 'LoadAnnotations'
        ])
        preprocessor = MODELS.build(cfg.model.data_preprocessor)
    data = pipeline(dict(img_path=path, img_id=0))
    out = preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))
    inputs, meta = out['inputs'], out['data_samples'][0].metainfo
    assert inputs.shape == (1, 3, 1024, 1024)
    # the longer side resized to 1024: 640x427 -> 1024x683
    assert meta['img_shape'] == (683, 1024)
    assert meta['scale_factor'] == pytest.approx((1.6, 683 / 427))
    # the image sits at the top left, the pad (0 after normalisation) below
    resized = torch.from_numpy(
        cv2.resize(image, (1024, 683))[..., ::-1].copy()).permute(2, 0, 1)
    mean = torch.tensor(cfg.model.data_preprocessor.mean).view(3, 1, 1)
    std = torch.tensor(cfg.model.data_preprocessor.std).view(3, 1, 1)
    torch.testing.assert_close(inputs[0, :, :683], (resized - mean) / std)
    assert not inputs[0, :, 683:].any()


def test_mask_rcnn_trains_and_validates_from_pretraining(
        pretrained, coco, tmp_path):
    work = str(tmp_path / 'det')
    Runner.from_cfg(det_cfg(work, pretrained, *coco)).train()
    text, records = run_log(work)
    # 4 blocks of 12 keys + patch embedding (2) + pos_embed = 51 of the
    # checkpoint's 54 encoder keys (no class token, no final norm); the
    # relative position tables (2 per block) are new.
    loaded, total = loaded_keys(text)
    assert loaded == len(encoder_keys(pretrained)) - 3 == 51
    assert total == loaded + 4 * 2
    losses = [r for r in records if 'loss' in r]
    assert len(losses) == 2
    for record in losses:
        for key in ('loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_mask'):
            assert np.isfinite(record[key])
    metrics = [r for r in records if 'coco/bbox_mAP' in r]
    assert len(metrics) == 1
    # Boxes and masks were both evaluated against the fixture's annotations:
    # COCO gives -1 to an object size without ground truth, and all four
    # objects are small (< 32 x 32 pixels). (After 2 iterations at a
    # warm-up lr of ~1e-7 the mAPs themselves say nothing.)
    for iou_type in ('bbox', 'segm'):
        sizes = {
            size: metrics[0][f'coco/{iou_type}_mAP_{size}']
            for size in 'sml'
        }
        assert sizes['s'] >= 0 and sizes['m'] == sizes['l'] == -1
        for suffix in ('', '_50', '_75'):
            assert metrics[0][f'coco/{iou_type}_mAP{suffix}'] >= 0


def test_upernet_trains_and_validates_from_pretraining(pretrained, ade,
                                                       tmp_path):
    work = str(tmp_path / 'seg')
    cfg = seg_cfg(work, pretrained, ade)
    Runner.from_cfg(copy.deepcopy(cfg)).train()
    text, records = run_log(work)
    # The 4 pretrained blocks, patch embedding, pos_embed and the class
    # token load; every block's relative position table, its index and 2
    # layer scales are new.
    loaded, total = loaded_keys(text)
    assert loaded == len(encoder_keys(pretrained)) - 2 == 52
    assert total == loaded + 4 * 4
    assert 'layers.3.attn.relative_position_bias_table' in text
    losses = [r for r in records if 'loss' in r]
    assert len(losses) == 2
    assert all(np.isfinite(r['decode.loss_ce']) for r in losses)
    metrics = [r for r in records if 'mIoU' in r]
    assert len(metrics) == 1
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics[0])

    # tools/test.py's config of the result: its CheckpointFitHook is found
    # from the mmseg scope (named without the plugin's scope, it was not)
    tested = make_test_config(cfg, osp.join(work, 'iter_2.pth'),
                              work_dir=str(tmp_path / 'test'))
    tested.experiment_name = 'seg_test'
    tested.visualizer.name = str(tmp_path / 'test')
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(Runner.from_cfg(tested).test())


def test_amp_without_cuda_picks_a_wrapper_of_the_configs_scope(
        monkeypatch, tmp_path):
    """``--amp`` on a CPU named the bf16 wrapper without the plugin's
    scope: "AutocastOptimWrapper is not in the mmseg::optim_wrapper
    registry"."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = train_config(SEG_CONFIG, work_dir=str(tmp_path), amp=True)
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert OPTIM_WRAPPERS.get(cfg.optim_wrapper.type) is (
            AutocastOptimWrapper)


def test_amp_without_cuda_is_refused_for_a_detector(
        monkeypatch, pretrained, coco, tmp_path):
    """Its bf16 proposals stopped the first iteration in mmcv's CPU nms
    ("expected scalar type Float but found BFloat16"), as this run shows;
    ``--amp`` is refused before the run."""
    cfg = det_cfg(str(tmp_path), pretrained, *coco)
    cfg.optim_wrapper.type = 'mae_plugin.AutocastOptimWrapper'
    cfg.experiment_name = 'det_bf16'
    with pytest.raises(RuntimeError, match='expected scalar type Float but '
                       'found BFloat16'):
        Runner.from_cfg(cfg).train()
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError) as refused:
        train_config(DET_CONFIG, work_dir=str(tmp_path), amp=True)
    assert str(refused.value) == (
        '--amp without CUDA trains in bf16 autocast, and the mmdet detector '
        f'of {DET_CONFIG} would stop at its first nms (mmcv\'s CPU nms '
        'takes float32 only); train it without --amp')


@pytest.mark.parametrize('builder', ['det', 'seg'])
def test_checkpoint_without_encoder_keys_raises(builder, pretrained, coco,
                                                ade, tmp_path):
    """A checkpoint whose keys sit under another prefix loads nothing:
    building the runner's model weights must fail, not warn."""
    cfg = (det_cfg(str(tmp_path), pretrained, *coco) if builder == 'det'
           else seg_cfg(str(tmp_path), pretrained, ade))
    cfg.model.backbone.init_cfg.prefix = 'encoder.'
    cfg.experiment_name = f'{builder}_no_match'
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError,
                       match='holds 0 of the .* keys DenseViT needs'):
        runner.model.init_weights()


def param_groups(cfg, scope):
    """Build the (toy-size) model of ``cfg`` and its optimizer; map every
    parameter name to its param group."""
    with DefaultScope.overwrite_default_scope(scope):
        from mmengine.registry import MODELS
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {names[id(p)]: group
              for group in wrapper.optimizer.param_groups
              for p in group['params']}
    assert len(groups) == len(names)
    return model, groups


def norm_params(model):
    """Names of the parameters of norm layers (LayerNorm, LN2d, BN, GN)."""
    norms = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)
    return {f'{m_name}.{p_name}'
            for m_name, module in model.named_modules()
            if isinstance(module, norms)
            for p_name, _ in module.named_parameters(recurse=False)}


def test_segmentation_decays_no_bias_norm_position_or_relative_table(
        tmp_path):
    """BEiT/MAE's segmentation recipe: weight decay 0.05 on the weights
    only; biases (decode head included), 1-D parameters (layer scales too),
    pos_embed, the class token and the relative position tables get none.
    Layer decay 0.65 on the lr."""
    cfg = seg_cfg(str(tmp_path), 'unused.pth', str(tmp_path))
    model, groups = param_groups(cfg, 'mmseg')
    params = dict(model.named_parameters())
    exempt = {
        name for name, p in params.items()
        if p.ndim == 1 or name.endswith('.bias')
        or 'relative_position_bias_table' in name
        or name in ('backbone.pos_embed', 'backbone.cls_token')
    }
    for name in ('decode_head.conv_seg.bias', 'backbone.pos_embed',
                 'backbone.cls_token', 'backbone.layers.0.gamma_1',
                 'backbone.layers.0.attn.relative_position_bias_table',
                 'backbone.layers.0.attn.qkv.bias',
                 'backbone.layers.0.ln1.weight', 'neck.upsample_4x.0.bias'):
        assert name in exempt
    assert params[
        'backbone.layers.0.attn.relative_position_bias_table'].ndim == 2
    for name, group in groups.items():
        assert group['weight_decay'] == (0. if name in exempt else 0.05), \
            name
    for name in ('backbone.layers.0.attn.qkv.weight',
                 'backbone.patch_embed.projection.weight',
                 'decode_head.conv_seg.weight'):
        assert groups[name]['weight_decay'] == 0.05
    # 4 blocks: block i gets 0.65 ** (4 - i), the embeddings 0.65 ** 5
    lr = {name: group['lr'] for name, group in groups.items()}
    assert lr['decode_head.conv_seg.weight'] == pytest.approx(1e-4)
    assert lr['backbone.layers.3.attn.relative_position_bias_table'] == \
        pytest.approx(1e-4 * 0.65)
    assert lr['backbone.layers.0.attn.qkv.weight'] == pytest.approx(
        1e-4 * 0.65**4)
    assert lr['backbone.pos_embed'] == pytest.approx(1e-4 * 0.65**5)
    assert lr['backbone.cls_token'] == pytest.approx(1e-4 * 0.65**5)


def test_detection_decays_as_vitdet(tmp_path):
    """ViTDet's code (detectron2): weight decay 0.1 except on norm layers
    and pos_embed; biases and relative position tables decay. Layer decay
    0.7 on the lr."""
    cfg = det_cfg(str(tmp_path), 'unused.pth', str(tmp_path), 'unused.json')
    model, groups = param_groups(cfg, 'mmdet')
    norms = norm_params(model)
    # the ViT's LayerNorms and the LN2d of the pyramid and the box head
    assert {'backbone.layers.0.ln1.weight', 'backbone.layers.1.ln2.bias',
            'neck.convs.0.0.ln.weight',
            'roi_head.bbox_head.shared_convs.0.ln.bias'} <= norms
    exempt = norms | {'backbone.pos_embed'}
    for name, group in groups.items():
        assert group['weight_decay'] == (0. if name in exempt else 0.1), \
            name
    for name in ('backbone.layers.0.attn.qkv.bias',
                 'backbone.layers.0.attn.rel_pos_h',
                 'roi_head.bbox_head.fc_cls.bias',
                 'backbone.layers.1.attn.proj.weight'):
        assert groups[name]['weight_decay'] == 0.1
    # 4 blocks: block i gets 0.7 ** (4 - i), the embeddings 0.7 ** 5
    lr = {name: group['lr'] for name, group in groups.items()}
    assert lr['rpn_head.rpn_cls.weight'] == pytest.approx(1e-4)
    assert lr['neck.convs.0.1.conv.weight'] == pytest.approx(1e-4)
    assert lr['backbone.layers.3.attn.qkv.weight'] == pytest.approx(
        1e-4 * 0.7)
    assert lr['backbone.layers.0.attn.qkv.weight'] == pytest.approx(
        1e-4 * 0.7**4)
    assert lr['backbone.pos_embed'] == pytest.approx(1e-4 * 0.7**5)


# ViTDet's larger encoders on the ViT-B config (detectron2's
# mask_rcnn_vitdet_{l_100ep,h_75ep}.py): config, pretraining run, depth,
# width, global blocks, drop path, layer decay, iterations, lr steps
VITDET_RECIPES = {
    'large': (DET_CONFIG.replace('vit-base', 'vit-large'),
              'mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k', 24, 1024,
              [5, 11, 17, 23], 0.4, 0.8, 184375, [163889, 177546]),
    # 75 epochs: the 100-epoch schedule times 3/4, rounded down as
    # detectron2's ``* 3 // 4``
    'huge': (H_DET_CONFIG, 'mae_vit-huge-p14_8xb512-amp-coslr-1600e_in1k',
             32, 1280, [7, 15, 23, 31], 0.5, 0.9, 138281, [122916, 133159]),
}


@pytest.mark.parametrize('arch', sorted(VITDET_RECIPES))
def test_the_larger_detection_configs_are_vitdets(arch):
    """The ViT-L and ViT-H detection configs are ViTDet's recipes on the
    ViT-B config: the encoder's depth and width under a pyramid of 16-pixel
    patches, global attention in every sixth (ViT-L) or eighth (ViT-H)
    block, drop path rising to 0.4 or 0.5, layer decay 0.8 or 0.9 (block
    i's lr ``decay ** (depth - i)``, the embeddings' ``decay ** (depth +
    1)``), ViT-H 75 epochs instead of 100; data, optimizer and warm-up as
    ViT-B's. Built full size."""
    (path, pretraining, depth, width, global_blocks, drop_path, decay,
     iterations, steps) = VITDET_RECIPES[arch]
    cfg = Config.fromfile(path)
    base = Config.fromfile(DET_CONFIG)
    check_test_config(cfg)  # the widths fit
    assert cfg.model.backbone.init_cfg.checkpoint == (
        f'work_dirs/{pretraining}/epoch_1600.pth')
    assert cfg.train_cfg.max_iters == iterations
    assert cfg.param_scheduler[0] == base.param_scheduler[0]  # warm-up
    assert cfg.param_scheduler[1].milestones == steps
    assert cfg.param_scheduler[1].end == iterations
    for key in ('train_dataloader', 'data_preprocessor'):
        assert cfg.get(key, cfg.model.get(key)) == base.get(
            key, base.model.get(key)), key
    assert cfg.optim_wrapper.optimizer == base.optim_wrapper.optimizer
    model, groups = param_groups(cfg, 'mmdet')
    backbone = model.backbone
    assert (backbone.num_layers, backbone.embed_dims) == (depth, width)
    assert backbone.patch_embed.projection.kernel_size == (16, 16)
    assert [i for i, layer in enumerate(backbone.layers)
            if layer.window_size == 0] == global_blocks
    assert backbone.layers[-1].drop_path.drop_prob == pytest.approx(
        drop_path)
    assert model.neck.convs[2][0].in_channels == width  # stride 16
    lr = {name: group['lr'] for name, group in groups.items()}
    assert lr[f'backbone.layers.{depth - 1}.attn.qkv.weight'] == (
        pytest.approx(1e-4 * decay))
    assert lr['backbone.layers.0.attn.qkv.weight'] == pytest.approx(
        1e-4 * decay**depth)
    assert lr['backbone.pos_embed'] == pytest.approx(1e-4 *
                                                     decay**(depth + 1))
    assert lr['rpn_head.rpn_cls.weight'] == pytest.approx(1e-4)


def test_the_vit_h_detection_config_loads_a_patch_14_encoder(tmp_path):
    """The ViT-H config's load settings on an encoder of the official
    ViT-H/14 layout (a narrow one: 224 inputs, 14-pixel patches, a 16x16
    position table): its 14x14 kernels are resized to 16x16 and its
    position table is kept whole as the table of the 16x16 grid
    (``pretrain_img_size`` 256), not resized; every encoder key loads."""
    cfg = Config.fromfile(H_DET_CONFIG)
    encoder = MAEViT(arch=TINY_ENCODER['arch'], img_size=224, patch_size=14)
    encoder.init_weights()
    stored = encoder.state_dict()
    path = str(tmp_path / 'vit-h14.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in stored.items()}}, path)
    backbone = copy.deepcopy(cfg.model.backbone)
    backbone.update(
        arch=TINY_ENCODER['arch'], global_attn_indexes=(3, ),
        init_cfg=dict(backbone.init_cfg, checkpoint=path))
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmengine.registry import MODELS
        model = MODELS.build(backbone)
    model.init_weights()
    loaded = model.state_dict()
    assert set(loaded) - set(stored) == set(model.keys_beyond_encoder())
    for key, value in loaded.items():
        if key == 'patch_embed.projection.weight':
            assert value.shape == (32, 3, 16, 16)
            assert stored[key].shape == (32, 3, 14, 14)
        elif key in stored:
            torch.testing.assert_close(value, stored[key], msg=key)
    assert loaded['pos_embed'].shape == (1, 1 + 16 * 16, 32)


@pytest.mark.parametrize('make', [train_config, make_test_config])
def test_a_pyramid_for_another_patch_size_is_refused(make, tmp_path):
    """The detection config with an encoder of 8-pixel patches under the
    pyramid for 16 (``model.neck.patch_size`` left as shipped): its levels
    had strides 2 to 32 where the anchors and RoI extractors assume 4 to
    64, and training and testing ran without an error. The same patch
    size passes."""
    args = ()
    if make is make_test_config:  # a file to test (not read here)
        args = (str(tmp_path / 'iter_2.pth'), )
        torch.save({'state_dict': {}}, args[0])
    options = {'model.backbone.patch_size': 8}
    with pytest.raises(ValueError) as error:
        make(DET_CONFIG, *args, work_dir=str(tmp_path), cfg_options=options)
    assert str(error.value) == (
        'model.neck.patch_size is 16 and model.backbone.patch_size 8: the '
        "pyramid resamples the backbone's map by patch_size / stride, so "
        'its levels would not have the strides the heads expect; give the '
        "neck the backbone's patch size")
    options['model.neck.patch_size'] = 8
    cfg = make(DET_CONFIG, *args, work_dir=str(tmp_path),
               cfg_options=options)
    assert cfg.model.neck.patch_size == cfg.model.backbone.patch_size == 8


def test_whole_image_inference_with_relative_tables_is_refused(
        monkeypatch, tmp_path):
    """``model.test_cfg.mode=whole`` with the tables of 512x512 and ADE20K's
    test pipeline (scale (2048, 512), keep_ratio=True) trained until the
    first validation, where the backbone refused the first image's grid;
    tools/test.py failed at its first batch."""
    message = (
        "model.test_cfg.mode is 'whole', which gives the backbone whole "
        "images, of the sizes that val_dataloader's Resize with "
        'keep_ratio=True makes, and model.backbone.img_size is (512, 512): '
        'with use_rel_pos_bias the backbone takes inputs of img_size only '
        '(its relative position tables hold that grid); use '
        "mode='slide' with crop_size img_size")
    options = {'model.test_cfg.mode': 'whole'}
    with pytest.raises(ValueError) as error:
        train_config(SEG_CONFIG, work_dir=str(tmp_path), cfg_options=options)
    assert str(error.value) == message
    checkpoint = tmp_path / 'iter_1.pth'
    checkpoint.write_bytes(b'weights')
    with pytest.raises(ValueError) as error:
        make_test_config(SEG_CONFIG, str(checkpoint),
                         work_dir=str(tmp_path), cfg_options=options)
    assert str(error.value) == message
    # a pipeline that resizes every image to img_size passes
    train_config(SEG_CONFIG, work_dir=str(tmp_path), cfg_options={
        **options, 'val_dataloader.dataset.pipeline.1.keep_ratio': False,
        'test_dataloader.dataset.pipeline.1.keep_ratio': False,
        'val_dataloader.dataset.pipeline.1.scale': (512, 512),
        'test_dataloader.dataset.pipeline.1.scale': (512, 512)})


@pytest.mark.parametrize('key', ['model.test_cfg.crop_size',
                                 'model.data_preprocessor.size'])
def test_inputs_of_another_grid_than_the_relative_tables_are_refused(
        key, tmp_path):
    """The segmentation config with 640x640 sliding windows (or padded
    crops) and the backbone's tables built for 512x512: the windows were
    refused by the backbone at the first validation, after
    ``val_interval`` (16000) iterations of training."""
    with pytest.raises(ValueError) as error:
        train_config(SEG_CONFIG, work_dir=str(tmp_path),
                     cfg_options={key: (640, 640)})
    assert str(error.value) == (
        f'{key} is (640, 640) and model.backbone.img_size (512, 512): with '
        'use_rel_pos_bias the backbone takes inputs of img_size only (its '
        'relative position tables hold that grid); give both one size')
    cfg = train_config(
        SEG_CONFIG, work_dir=str(tmp_path),
        cfg_options={'model.test_cfg.crop_size': (640, 640),
                     'model.data_preprocessor.size': (640, 640),
                     'model.backbone.img_size': 640})
    assert cfg.model.backbone.img_size == 640
