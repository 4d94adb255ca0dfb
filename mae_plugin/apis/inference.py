"""Build a pretrained MAE from a config and reconstruct images with it."""
from typing import List, Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mae_plugin.registry import MODELS
from mae_plugin.visualization import reconstruction_figure


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


def reconstruct_images(model: torch.nn.Module,
                       images: List[str],
                       seed: int = 0) -> List[np.ndarray]:
    """Reconstruct images with the model's test pipeline.

    Args:
        model (nn.Module): An :class:`MAE` built by :func:`init_model`.
        images (list[str]): Image files.
        seed (int): Seed of the masks. Defaults to 0.

    Returns:
        list[ndarray]: the four-panel figure of every image, ``uint8``
        ``[H, 4W + 3*gap, C]`` in the model's input channel order.
    """
    pipeline = Compose(model.cfg.test_pipeline)
    items = [pipeline(dict(img_path=img)) for img in images]
    data = model.data_preprocessor(default_collate(items), training=False)
    model.predict_seed = seed
    samples = model.predict(data['inputs'], data['data_samples'])
    originals = model.to_pixels(data['inputs'])
    return [
        reconstruction_figure(orig, sample.reconstruction, sample.mask,
                              model.backbone.patch_size)
        for orig, sample in zip(originals, samples)
    ]
