"""Build a pretrained MAE from a config and draw its reconstructions."""
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import scandir

from mae_plugin.datasets import IMAGE_EXTENSIONS
from mae_plugin.models.masking import GridMasking
from mae_plugin.registry import MODELS, build_model
from mae_plugin.visualization import (PANEL_TITLES, reconstruction_figure,
                                      target_description)

# Command-line names of the masking generators.
MASKING_STRATEGIES = {
    'random': 'RandomMasking',
    'block': 'BlockMasking',
    'grid': 'GridMasking'
}
# ... and the other way round.
MASKING_NAMES = {cls: name for name, cls in MASKING_STRATEGIES.items()}


class Reconstruction(NamedTuple):
    """The figure row of one image and the masked-patch MSE it shows
    (0-255 pixel values, over the removed patches of the model's
    input)."""
    figure: np.ndarray
    masked_mse: float


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the model of a config and load a checkpoint into it.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint to load. Defaults to None.
        device (str): Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: the model in eval mode, ``model.cfg`` set.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mae_plugin'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    else:
        model.init_weights()
    model.cfg = cfg
    model.to(device)
    model.eval()
    return model


def list_images(paths: Sequence[str]) -> List[str]:
    """Image files given directly or found (recursively, sorted) in folders.

    Args:
        paths (Sequence[str]): Image files and folders.

    Returns:
        list[str]: image paths in the given order.
    """
    images = []
    for path in paths:
        if osp.isdir(path):
            found = sorted(
                osp.join(path, name) for name in scandir(
                    path, IMAGE_EXTENSIONS, recursive=True,
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
    if strategy not in MASKING_STRATEGIES:
        raise ValueError(f'masking strategy must be one of '
                         f'{sorted(MASKING_STRATEGIES)}, got {strategy!r}')
    if not 0 <= mask_ratio < 1:
        raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
    if strategy != 'grid':
        return build_model(
            dict(type=MASKING_STRATEGIES[strategy], mask_ratio=mask_ratio))
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
    strategy = strategy or MASKING_NAMES.get(type(current).__name__)
    if mask_ratio is None:
        mask_ratio = current.mask_ratio
    model.backbone.masking = build_masking(strategy, mask_ratio)


def reconstruction_figures(
        model: torch.nn.Module,
        data_batch: dict,
        sizes: Optional[Sequence[Tuple[int, int]]] = None,
        scale: int = 1,
        titles: Optional[Sequence[str]] = None) -> List[Reconstruction]:
    """The four-panel figure of every image of a collated batch.

    Masks come from :meth:`MAE.predict`, i.e. from a generator seeded with
    ``model.predict_seed``: the same batch always gets the same masks.

    Args:
        model (nn.Module): An :class:`MAE`.
        data_batch (dict): ``inputs`` and ``data_samples`` as collated by
            ``default_collate``.
        sizes (Sequence[tuple[int, int]], optional): ``(H, W)`` to crop
            the panels of every image to. Defaults to None (no crop).
        scale (int): Enlargement of the panels. Defaults to 1.
        titles (Sequence[str], optional): Panel titles. Defaults to None.

    Returns:
        list[Reconstruction]: figures (``uint8``, in the model's input
        channel order, see :func:`reconstruction_figure`) with their
        masked-patch MSE.
    """
    data = model.data_preprocessor(data_batch, training=False)
    samples = model.predict(data['inputs'])
    originals = model.to_pixels(data['inputs'])
    sizes = sizes or [None] * len(samples)
    return [
        Reconstruction(
            reconstruction_figure(
                orig,
                sample.reconstruction,
                sample.mask,
                model.backbone.patch_size,
                size=size,
                scale=scale,
                titles=titles), float(sample.masked_mse))
        for orig, sample, size in zip(originals, samples, sizes)
    ]


def reconstruct_images(
        model: torch.nn.Module,
        images: Sequence[str],
        seed: int = 0,
        img_size: Optional[Tuple[int, int]] = None,
        scale: int = 1,
        titles: Optional[Sequence[str]] = None) -> List[Reconstruction]:
    """The four-panel figure of image files, at any size.

    Every image is loaded with the first (loading) step of the config's
    ``test_pipeline``, resized to ``img_size`` when given, padded on the
    bottom and right (edge values) to a multiple of the patch size and
    reconstructed alone; its panels are cropped back to the loaded (or
    resized) size.

    Args:
        model (nn.Module): An :class:`MAE` built by :func:`init_model`.
        images (Sequence[str]): Image files.
        seed (int): Seed of the masks; the same seed gives the same masks.
            Defaults to 0.
        img_size (tuple[int, int], optional): ``(H, W)`` to resize to.
            Defaults to None (every image's own size).
        scale (int): Enlargement of the panels. Defaults to 1.
        titles (Sequence[str], optional): Panel titles. Defaults to None.

    Returns:
        list[Reconstruction]: one figure per image, as
        :func:`reconstruction_figures`.
    """
    if img_size is not None:
        img_size = tuple(img_size)
        if len(img_size) != 2 or min(img_size) < 1:
            raise ValueError(
                f'img_size must be two positive ints (H, W), got {img_size}')
    load = model.cfg.test_pipeline[0]
    if 'LoadImage' not in load['type']:
        raise KeyError(f'test_pipeline[0] must load the image, got '
                       f'{load["type"]!r}')
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
    for path in images:
        item = pipeline(dict(img_path=path))
        size = img_size or item['data_samples'].ori_shape
        figures += reconstruction_figures(model, default_collate([item]),
                                          [size], scale, titles)
    return figures


def masking_title(model: torch.nn.Module) -> str:
    """The masking of a model in a few words: ``'75% random'``,
    ``'grid, 1 of 2x2 kept'``."""
    masking = model.backbone.masking
    if isinstance(masking, GridMasking):
        return f'grid, 1 of {masking.stride}x{masking.stride} kept'
    return f'{masking.mask_ratio:.0%} {MASKING_NAMES[type(masking).__name__]}'


def panel_titles(model: torch.nn.Module) -> List[str]:
    """Titles of the four panels, the masking and (for norm-pix models,
    mapped back with the true patches' statistics) the target named."""
    target = ' (norm-pix)' if model.head.norm_pix else ''
    return [
        'original', f'masked: {masking_title(model)}',
        f'reconstruction{target}', 'reconstruction + visible'
    ]


def caption_lines(model: torch.nn.Module) -> List[str]:
    """What a reconstruction figure shows: panels, masking and target.

    Args:
        model (nn.Module): An :class:`MAE`.

    Returns:
        list[str]: caption lines.
    """
    masking = model.backbone.masking
    p = model.backbone.patch_size
    if isinstance(masking, GridMasking):  # its share depends on the grid
        removed = (f'the top-left {p}x{p} patch of every '
                   f'{masking.stride}x{masking.stride} kept')
    else:
        removed = f'{masking.mask_ratio:.0%} of the {p}x{p} patches removed'
    return [
        ' | '.join(PANEL_TITLES),
        f'{type(masking).__name__}: {removed}, mask seed '
        f'{model.predict_seed}',
        target_description(model.head.norm_pix),
    ]


def as_rgb(figure: np.ndarray, model: torch.nn.Module) -> np.ndarray:
    """A figure in the model's input channel order as RGB ``[H, W, 3]``.

    The input is RGB when the data preprocessor converts channels
    (``to_rgb=True``) and BGR, as OpenCV loads it, otherwise; one channel
    becomes grey RGB.
    """
    if figure.shape[2] == 1:
        return np.repeat(figure, 3, axis=2)
    if figure.shape[2] != 3:
        raise ValueError(
            f'figure: {figure.shape[2]} channels cannot be shown as RGB')
    if model.data_preprocessor._channel_conversion:
        return figure
    return np.ascontiguousarray(figure[..., ::-1])
