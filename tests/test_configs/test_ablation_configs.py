"""The paper's Table 1 ablations: every config builds, trains a step, and
differs from the Table 1 baseline in exactly its ablated field."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mae_plugin.registry import MODELS
from ..conftest import ROOT, TINY_ARCH
from ..test_models.test_mae import batch

FOLDER = osp.join(ROOT, 'configs', 'mae', 'ablations')
PREFIX, SUFFIX = 'mae_vit-large-p16_', '_8xb512-amp-coslr-800e_in1k.py'
BASE = osp.join(FOLDER, f'{PREFIX}table1-base{SUFFIX}')
MISSING = '<missing>'
MASKING = 'model.backbone.masking.'
PIPELINES = ('train_pipeline', 'train_dataloader.dataset.pipeline')


def flatten(cfg: dict, prefix: str = '') -> dict:
    """Nested dicts to ``{'a.b.c': leaf}``; lists are leaves."""
    flat = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def diff(path: str) -> dict:
    """``{field: (baseline value, ablation value)}`` of the merged
    configs."""
    base = flatten(Config.fromfile(BASE).to_dict())
    other = flatten(Config.fromfile(path).to_dict())
    return {
        key: (base.get(key, MISSING), other.get(key, MISSING))
        for key in base.keys() | other.keys()
        if base.get(key, MISSING) != other.get(key, MISSING)
    }


def expected_changes() -> dict:
    """The one field each ablation changes, from the Table 1 baseline
    (decoder 8 x 512, no mask token in the encoder, pixel target, random
    masking of 75%, random-resized crops)."""
    changes = {
        'enc-mask-token': {
            'model.backbone.mask_token_in_encoder': (MISSING, True)
        },
        'norm-pix': {
            'model.head.norm_pix': (False, True)
        },
        'mask-block50': {
            MASKING + 'type': ('RandomMasking', 'BlockMasking'),
            MASKING + 'mask_ratio': (0.75, 0.5)
        },
        'mask-block75': {
            MASKING + 'type': ('RandomMasking', 'BlockMasking')
        },
        'mask-grid75': {
            MASKING + 'type': ('RandomMasking', 'GridMasking'),
            MASKING + 'mask_ratio': (0.75, MISSING),
            MASKING + 'stride': (MISSING, 2)
        },
    }
    for depth in (1, 2, 4, 12):
        changes[f'dec-depth{depth}'] = {'model.neck.num_layers': (8, depth)}
    for width in (128, 256, 768, 1024):
        changes[f'dec-width{width}'] = {'model.neck.embed_dims': (512, width)}
    for ratio in range(10, 100, 10):
        changes[f'mask-ratio{ratio}'] = {
            MASKING + 'mask_ratio': (0.75, ratio / 100)
        }
    return changes


CHANGES = expected_changes()
AUGMENTATIONS = ('aug-none', 'aug-fixed-crop', 'aug-color-jitter')


def name_of(path: str) -> str:
    return osp.basename(path)[len(PREFIX):-len(SUFFIX)]


def test_every_table1_row_has_a_config():
    names = {name_of(p) for p in glob.glob(osp.join(FOLDER, '*.py'))}
    assert names == set(CHANGES) | set(AUGMENTATIONS) | {'table1-base'}


def test_baseline_is_the_large_800e_recipe_with_a_pixel_target():
    base = Config.fromfile(BASE)
    recipe = Config.fromfile(
        osp.join(ROOT, 'configs', 'mae',
                 'mae_vit-large-p16_8xb512-amp-coslr-800e_in1k.py'))
    assert flatten(base.to_dict()) == {
        **flatten(recipe.to_dict()), 'model.head.norm_pix': False
    }


@pytest.mark.parametrize('name', sorted(CHANGES))
def test_model_ablation_changes_one_field(name):
    assert diff(osp.join(FOLDER, f'{PREFIX}{name}{SUFFIX}')) == CHANGES[name]


@pytest.mark.parametrize('name', AUGMENTATIONS)
def test_augmentation_ablation_changes_only_the_train_pipeline(name):
    cfg = Config.fromfile(osp.join(FOLDER, f'{PREFIX}{name}{SUFFIX}'))
    changes = diff(cfg.filename)
    assert set(changes) == set(PIPELINES)
    assert cfg.train_pipeline == cfg.train_dataloader.dataset.pipeline
    types = [t['type'] for t in cfg.train_pipeline]
    assert types[-1] == 'PackInputs'
    if name == 'aug-color-jitter':
        # the baseline's crops and flips, then the jitter
        base = Config.fromfile(BASE)
        assert cfg.train_pipeline[:2] == base.train_pipeline[:2]
        assert types[0] == 'DecodeRandomResizedCrop'
    else:
        assert types[0] == 'mae_plugin.RobustLoadImageFromFile'
    assert ('RandomFlip' in types) == (name != 'aug-none')
    assert ('torchvision/ColorJitter' in types) == (
        name == 'aug-color-jitter')


def tiny_encoder(cfg: Config) -> Config:
    """Shrink the ViT-L/16 encoder at 224 to a 32-wide one at 32x32 with
    8-pixel patches; the decoder and everything ablated stay as they are,
    but for a block masking's smallest block, which shrinks with the grid
    (16 of the 14x14 patches fit no 4x4 grid: 2)."""
    if cfg.model.backbone.masking.type == 'BlockMasking':
        cfg.model.backbone.masking.min_num_patches = 2
    cfg.merge_from_dict({
        'model.backbone.arch': dict(_delete_=True, **TINY_ARCH),
        'model.backbone.img_size': 32,
        'model.backbone.patch_size': 8,
        'model.neck.in_channels': TINY_ARCH['embed_dims'],
        'model.neck.img_size': 32,
        'model.neck.patch_size': 8,
        'model.head.patch_size': 8,
    })
    return cfg


@pytest.mark.parametrize(
    'path', sorted(glob.glob(osp.join(FOLDER, '*.py'))), ids=name_of)
def test_config_builds_and_runs(path, tmp_path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    # The training pipeline runs on a JPEG of another size (large enough for
    # reduced decoding), whatever its random draws.
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    small = np.random.default_rng(0).integers(0, 256, (30, 26, 3), np.uint8)
    cv2.imwrite(str(tmp_path / 'a.jpg'), cv2.resize(small, (780, 900)))
    for seed in range(8):
        np.random.seed(seed), torch.manual_seed(seed)
        packed = pipeline(dict(img_path=str(tmp_path / 'a.jpg')))
        assert tuple(packed['inputs'].shape) == (3, 224, 224)

    model = MODELS.build(tiny_encoder(cfg).model)
    neck, masking = cfg.model.neck, cfg.model.backbone.masking
    assert len(model.neck.decoder_blocks) == neck.num_layers
    assert model.neck.embed_dims == neck.embed_dims
    assert model.head.norm_pix == cfg.model.head.norm_pix
    assert type(model.backbone.masking).__name__ == masking.type
    ratio = masking.get('mask_ratio') or 1 - 1 / masking.stride**2
    assert model.backbone.masking.mask_ratio == ratio
    data = model.data_preprocessor(batch(), training=True)
    latent, mask, _ = model.backbone(data['inputs'])
    num_visible = int(16 * (1 - ratio))
    assert (mask.sum(1) == 16 - num_visible).all()
    assert latent.shape[1] == 1 + (
        16 if cfg.model.backbone.get('mask_token_in_encoder') else num_visible)
    assert np.isfinite(model(**data, mode='loss')['loss'].item())
