"""The public inference API: build a pretrained MAE from a config, choose
its masking and reconstruct image files (the figures are drawn by
:mod:`mae_plugin.visualization`)."""
import copy
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import scandir

from mae_plugin.checkpoint import (conversion_hint, read_checkpoint_file,
                                   weights_of)
from mae_plugin.datasets import IMAGE_EXTENSIONS
from mae_plugin.registry import MODELS, build_model
from mae_plugin.utils import (check_choice, check_config_path, check_device,
                              check_generator_seed, check_number, check_pair,
                              check_paths, check_positive_int,
                              innermost_dataset, load_config,
                              merge_cfg_options)
from mae_plugin.visualization import (Reconstruction, masking_name,
                                      reconstruction_figures)
from .inputs import checked_checkpoint


class CheckpointMismatchError(RuntimeError):
    """:func:`init_model`'s refusal of a checkpoint whose tensors do not
    all fit the model; tools report it as an input error."""


# Command-line names of the masking generators.
MASKING_STRATEGIES = {
    'random': 'RandomMasking',
    'block': 'BlockMasking',
    'grid': 'GridMasking'
}


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the model of a config and load a checkpoint into it.

    Args:
        config (str | os.PathLike | Config): Config file or object; an
            object is left unchanged (``model.cfg`` is a copy).
        checkpoint (str | os.PathLike, optional): Checkpoint to load.
            Defaults to None.
        device (str): Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config
            (:func:`~mae_plugin.utils.merge_cfg_options`).

    Returns:
        nn.Module: the model in eval mode, ``model.cfg`` set.

    Raises:
        CheckpointMismatchError: The checkpoint's tensors do not all fit
            the model (another architecture, missing or unexpected keys);
            the message names the checkpoint and the config.
        ValueError: ``device`` is not one this machine has (a CUDA device
            where torch sees no GPU), an option's first key is a
            misspelling of the config's or the runner's, or ``config``
            has no config suffix (``.py``, ``.json``, ``.yaml``, ``.yml``).
        FileNotFoundError: ``checkpoint`` is a local path to no file.
        IsADirectoryError: ``checkpoint`` is a folder (a work dir).
        TypeError: ``config`` or ``checkpoint`` is not a path.
    """
    check_device('device', device)
    cfg = copy.deepcopy(config) if isinstance(config, Config) else (
        load_config(check_config_path('config', config)))
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    if checkpoint is not None:
        checkpoint = checked_checkpoint('checkpoint', checkpoint)
    init_default_scope(cfg.get('default_scope', 'mae_plugin'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        try:
            load_checkpoint(
                model, checkpoint, map_location='cpu', strict=True)
        except RuntimeError as error:
            hint = _fit_hint(model, read_checkpoint_file(checkpoint)) if (
                osp.isfile(checkpoint)) else ''
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} does not fit the model of '
                f'{cfg.filename or "the config"}{hint}: {error}') from error
    else:
        model.init_weights()
    model.cfg = cfg
    model.to(device)
    model.eval()
    return model


def _fit_hint(model: torch.nn.Module, checkpoint: object) -> str:
    """Why ``checkpoint`` may not fit ``model``: its layout is another
    (:func:`~mae_plugin.checkpoint.conversion_hint`), or it holds no
    weights of a part of the model (an encoder-only file given to an MAE
    model, whose decoder is the ``neck``; a fine-tuned classifier holds
    none either)."""
    hint = conversion_hint(checkpoint)
    if hint:
        return hint
    stored = {key.split('.')[0] for key in weights_of(checkpoint)}
    lacking = sorted({key.split('.')[0]
                      for key in model.state_dict()} - stored)
    if lacking and stored:
        hint = (f' (it holds no {", ".join(p + ".*" for p in lacking)} '
                'weights')
        if lacking == ['neck']:
            hint += ': ' + (
                'an encoder-only checkpoint, which fine-tuning takes; '
                if stored == {'backbone'} else '') + (
                    'a reconstruction needs the decoder of a whole '
                    'pretraining checkpoint, e.g. epoch_*.pth or the '
                    'official mae_visualize_* converted')
        hint += ')'
    return hint


def list_images(paths: Union[str, Sequence[str]]) -> List[str]:
    """Image files given directly or found (recursively, sorted) in folders.

    Args:
        paths (str | os.PathLike | Sequence): Image files and folders, or
            one of them.

    Returns:
        list[str]: image paths in the given order.

    Raises:
        FileNotFoundError: A path is no file or folder, or a folder holds
            no image.
        TypeError: ``paths`` is neither a path nor a list of paths.
    """
    images = []
    for path in check_paths('paths', paths):
        if osp.isdir(path):
            found = sorted(
                osp.join(path, name) for name in scandir(
                    path,
                    IMAGE_EXTENSIONS,
                    recursive=True,
                    case_sensitive=False))
            if not found:
                raise FileNotFoundError(
                    f'images: no {"/".join(IMAGE_EXTENSIONS)} file in {path}')
            images += found
        elif osp.isfile(path):
            images.append(path)
        else:
            raise FileNotFoundError(f'images: no such file or folder {path}')
    return images


def build_masking(strategy: str, mask_ratio: float):
    """A masking generator from its command-line name and mask ratio.

    Args:
        strategy (str): ``'random'``, ``'block'`` or ``'grid'``.
        mask_ratio (float): Fraction of patches removed, in [0, 1); grid
            masking removes ``1 - 1/stride**2`` (0, 0.75, 0.889, ...) only.

    Returns:
        BaseMasking: the generator.
    """
    check_choice('strategy', strategy, sorted(MASKING_STRATEGIES))
    if strategy != 'grid':  # the generator checks its mask_ratio
        return build_model(
            dict(type=MASKING_STRATEGIES[strategy], mask_ratio=mask_ratio))
    check_number('mask_ratio', mask_ratio, 0, 1, high_open=True)
    stride = round((1 - mask_ratio)**-0.5)
    if abs(1 - 1 / stride**2 - mask_ratio) > 1e-3:
        raise ValueError(
            f'mask_ratio={mask_ratio} is not a grid masking ratio: a stride '
            f's removes 1 - 1/s^2 of the patches (0.75 for s=2, 0.889 for '
            f's=3, ...)')
    return build_model(dict(type='GridMasking', stride=stride))


def set_masking(model: torch.nn.Module,
                strategy: Optional[str] = None,
                mask_ratio: Optional[float] = None) -> None:
    """Replace the encoder's masking generator; what is not given keeps the
    model's current strategy and mask ratio.

    Args:
        model (nn.Module): An :class:`MAE`.
        strategy (str, optional): ``'random'``, ``'block'`` or ``'grid'``.
            Defaults to None.
        mask_ratio (float, optional): Defaults to None.
    """
    if strategy is None and mask_ratio is None:
        return
    current = model.backbone.masking
    strategy = strategy or masking_name(current)
    if mask_ratio is None:
        mask_ratio = current.mask_ratio
    model.backbone.masking = build_masking(strategy, mask_ratio)


def _test_pipeline(cfg: Config) -> Tuple[str, list]:
    """``(key, pipeline)``: the pipeline of the dataset of the config's
    ``test_dataloader``, else of its ``val_dataloader`` (inside dataset
    wrappers), else its ``test_pipeline`` variable (``[]`` when it has
    none)."""
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = innermost_dataset((cfg.get(key) or {}).get('dataset') or {})
        if dataset.get('pipeline'):
            return f'{key} pipeline', dataset['pipeline']
    return 'test_pipeline', cfg.get('test_pipeline') or []


def image_loader(model: torch.nn.Module) -> dict:
    """The loading step for image files given to ``model``: the first step
    of its config's test pipeline (:func:`_test_pipeline`, where a config
    sets ``color_type``) when that loads image files, else (a dataset of
    arrays, as Fashion-MNIST's) ``RobustLoadImageFromFile`` with the
    backbone's channels, grey for 1 and colour for 3.

    Raises:
        ValueError: The config loads no image files and the backbone takes
            neither 1 nor 3 channels.
    """
    key, pipeline = _test_pipeline(model.cfg)
    load = pipeline[0] if pipeline else {'type': None}
    if 'LoadImage' in str(load['type']):
        return load
    colors = {1: 'grayscale', 3: 'color'}
    in_channels = model.backbone.in_channels
    if in_channels not in colors:
        raise ValueError(
            f'the {key} of the config (first step {load["type"]!r}) loads '
            f'no image files, and image files have 1 or 3 channels, not the '
            f'backbone.in_channels={in_channels}')
    return dict(type='RobustLoadImageFromFile', color_type=colors[in_channels])


def reconstruct_images(
        model: torch.nn.Module,
        images: Union[str, Sequence[str]],
        seed: int = 0,
        img_size: Optional[Tuple[int, int]] = None,
        scale: int = 1,
        titles: Optional[Sequence[str]] = None) -> List[Reconstruction]:
    """The four-panel figure of image files, at any size.

    Every image is loaded by :func:`image_loader`, resized to
    ``img_size`` when given, padded on the bottom and right (edge values)
    to a multiple of the patch size and reconstructed alone; its panels
    are cropped back to the loaded (or resized) size.

    Args:
        model (nn.Module): An :class:`MAE` built by :func:`init_model`.
        images (str | os.PathLike | Sequence): Image files, or one.
        seed (int): Seed of the masks; the same seed gives the same masks.
            It stays the model's ``predict_seed``, which later ``predict``
            calls and :func:`~mae_plugin.visualization.caption_lines` use;
            in ``[-2**63, 2**64 - 1]``, as the model's ``predict_seed``.
            Defaults to 0.
        img_size (int | tuple[int, int], optional): ``(H, W)`` (or a
            side) to resize to. Defaults to None (every image's own size).
        scale (int): Enlargement of the panels, an int >= 1. Defaults to 1.
        titles (Sequence[str], optional): Panel titles. Defaults to None.

    Returns:
        list[Reconstruction]: one figure per image, as
        :func:`reconstruction_figures`.

    Raises:
        TypeError: ``seed`` or ``scale`` is not an int, or ``img_size``
            not an int or a pair of ints; checked before any image is
            loaded.
        ValueError: ``seed`` is outside the range above, ``scale`` or a
            side of ``img_size`` is < 1; or the model cannot reconstruct
            an image, such as one of a single patch that its masking
            removes whole (a 16 x 16 icon for a ViT-B/16); the message
            names the file and its size.
    """
    seed = check_generator_seed('seed', seed)
    scale = check_positive_int('scale', scale)
    if img_size is not None:
        img_size = check_pair('img_size', img_size)
    load = image_loader(model)
    resize = [] if img_size is None else [
        dict(
            type='Resize',
            scale=img_size[::-1],
            keep_ratio=False,
            backend='cv2',
            interpolation='bicubic')
    ]
    pipeline = Compose([
        load, *resize,
        dict(
            type='Pad',
            size_divisor=model.backbone.patch_size,
            padding_mode='edge'),
        dict(type='PackInputs')
    ])
    model.predict_seed = seed
    figures = []
    for path in check_paths('images', images):
        item = pipeline(dict(img_path=path))
        size = img_size or item['data_samples'].ori_shape
        try:
            figures += reconstruction_figures(model, default_collate([item]),
                                              [size], scale, titles)
        except ValueError as error:
            raise ValueError(
                f'{path} ({size[0]}x{size[1]} pixels as reconstructed; '
                f'img_size, --img-size, resizes it): {error}') from error
    return figures
