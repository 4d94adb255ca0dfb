"""Watch MAE learn: reconstructions of fixed images during training."""
import random
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dataset import default_collate
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mae_plugin.registry import DATASETS, HOOKS
from mae_plugin.utils import check_positive_int
from mae_plugin.visualization import (add_caption, as_rgb, caption_lines,
                                      reconstruction_figures, stack_rows)


@contextmanager
def preserved_random_state() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's global RNGs (CPU and the
    current CUDA device) on exit, whatever the block drew from them."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    devices = [torch.cuda.current_device()
               ] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


@HOOKS.register_module()
class ReconstructionVisualizationHook(Hook):
    """Draw the MAE paper's reconstruction figure of fixed images.

    Every ``interval`` training iterations and after the last one, the first
    ``num_images`` images of a dataset (the validation set by default) are
    reconstructed by :meth:`MAE.predict` in eval mode, one row per image:
    original | masked | reconstruction | reconstruction + visible, under a
    caption stating the masking and the target. The masks are the same at
    every step (``predict`` draws them from its own generator seeded with
    the model's ``predict_seed``). The figure goes to the runner's
    visualizer as the image ``name`` at the iteration count, i.e. to every
    configured backend: PNGs under ``vis_data/vis_image`` with
    ``LocalVisBackend``, the image tab with ``TensorboardVisBackend``.

    Rendering leaves the training run untouched: the global Python, NumPy
    and torch random states are restored afterwards and the model returns
    to its previous mode, so a run with and without the hook trains
    identically.

    Args:
        interval (int): Draw every ``interval`` iterations. Defaults to
            1000.
        num_images (int): Images from the start of the dataset. Defaults
            to 4.
        dataset (dict, optional): Config of the dataset to draw from; its
            pipeline must give images of one size. Defaults to None (the
            dataset of ``val_dataloader``).
        name (str): Image name in the visualizer. Defaults to
            ``'reconstruction'``.
    """
    priority = 'LOW'

    def __init__(self,
                 interval: int = 1000,
                 num_images: int = 4,
                 dataset: Optional[dict] = None,
                 name: str = 'reconstruction') -> None:
        self.interval = check_positive_int('interval', interval)
        self.num_images = check_positive_int('num_images', num_images)
        self.dataset = dataset
        self.name = name
        self._data_batch = None

    def before_train(self, runner) -> None:
        """Load and collate the fixed images once."""
        if self.dataset is not None:
            with DATASETS.switch_scope_and_registry('mae_plugin') as registry:
                dataset = registry.build(self.dataset)
        elif runner.val_loop is not None:
            dataset = runner.val_dataloader.dataset
        else:
            raise KeyError(
                'ReconstructionVisualizationHook needs a `val_dataloader` '
                'in the config or its own `dataset`')
        num_images = min(self.num_images, len(dataset))
        with preserved_random_state():
            self._data_batch = default_collate(
                [dataset[i] for i in range(num_images)])

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if (self.every_n_train_iters(runner, self.interval)
                or self.is_last_train_iter(runner)):
            self.draw(runner, step=runner.iter + 1)

    def draw(self, runner, step: int) -> None:
        """Send the figure of the current model to the visualizer."""
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        was_training = model.training
        model.eval()
        try:
            with preserved_random_state():
                rows = [
                    row.figure
                    for row in reconstruction_figures(model, self._data_batch)
                ]
        finally:
            model.train(was_training)
        figure = add_caption(stack_rows(rows), caption_lines(model))
        runner.visualizer.add_image(
            self.name, as_rgb(figure, model), step=step)
