"""Report, at the end of every epoch, how many images were skipped."""
from typing import Iterator

from mmengine.hooks import Hook

from mae_plugin.registry import HOOKS


def _loading_transforms(dataset) -> Iterator:
    """Transforms with a skip counter in a dataset and the datasets it
    wraps (``RepeatDataset``, ``ConcatDataset``, ...)."""
    inner = getattr(dataset, 'datasets', None) or [
        getattr(dataset, 'dataset', None)
    ]
    for child in inner:
        if child is not None:
            yield from _loading_transforms(child)
    for transform in getattr(getattr(dataset, 'pipeline', None),
                             'transforms', []):
        if hasattr(transform, 'pop_num_skipped'):
            yield transform


@HOOKS.register_module()
class UnreadableImagesHook(Hook):
    """Log the number of image loads that the loading transforms
    (:class:`~mae_plugin.datasets.BaseImageLoader`:
    ``RobustLoadImageFromFile``, ``DecodeRandomResizedCrop``,
    ``DeferredRandomResizedCrop``) skipped (``on_error='skip'``) during
    each training epoch, so that skipping is never silent; an epoch that
    skipped none logs nothing. The per-file warnings come from the
    transform."""
    priority = 'BELOW_NORMAL'

    def after_train_epoch(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        count = sum(transform.pop_num_skipped()
                    for transform in _loading_transforms(dataset))
        if count:
            runner.logger.warning(
                f'epoch {runner.epoch + 1}: skipped {count} load(s) of '
                'unreadable images and trained on other samples instead')
