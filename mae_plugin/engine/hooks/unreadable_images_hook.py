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
    each training, validation and test epoch, so that skipping is never
    silent; an epoch that skipped none logs nothing. The per-file warnings
    come from the transform.

    A dataset that is not in test mode (the demo's validation set) replaces
    a skipped sample with another of its samples, drawn at random, so the
    metrics of that epoch count the replacement twice; the validation and
    test messages say so.
    """
    priority = 'BELOW_NORMAL'

    def after_train_epoch(self, runner) -> None:
        count = _pop_skipped(runner.train_dataloader)
        if count:
            runner.logger.warning(
                f'epoch {runner.epoch + 1}: skipped {count} load(s) of '
                'unreadable images and trained on other samples instead')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._after_evaluation(runner, runner.val_dataloader, 'validation')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._after_evaluation(runner, runner.test_dataloader, 'test')

    @staticmethod
    def _after_evaluation(runner, dataloader, stage: str) -> None:
        count = _pop_skipped(dataloader)
        if count:
            runner.logger.warning(
                f'{stage}: skipped {count} load(s) of unreadable images; '
                'each was replaced by another sample of the set, which its '
                'metrics count twice')


def _pop_skipped(dataloader) -> int:
    """Loads skipped since the last call by the transforms of a
    dataloader's dataset."""
    return sum(transform.pop_num_skipped()
               for transform in _loading_transforms(dataloader.dataset))
