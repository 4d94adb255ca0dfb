"""mmengine's ``RuntimeInfoHook`` with the step's logged values read from
the device in batches instead of after every iteration."""
from collections import defaultdict
from typing import List, Optional, Sequence, Union

import torch
from mmengine.hooks import LoggerHook, RuntimeInfoHook

from mae_plugin.registry import HOOKS

Number = Union[int, float]


def read_scalars(tensors: Sequence[torch.Tensor]) -> List[Number]:
    """The Python numbers of one-element tensors, read with one copy (and
    one wait) per device: floats, or ints for integer and bool tensors.

    Raises:
        ValueError: A tensor holds more than one element.
    """
    values: List[Optional[Number]] = [None] * len(tensors)
    by_device = defaultdict(list)
    for i, tensor in enumerate(tensors):
        if tensor.numel() != 1:
            raise ValueError(f'a logged value must be one number, got a '
                             f'tensor of shape {tuple(tensor.shape)}')
        by_device[tensor.device].append(i)
    for indices in by_device.values():
        stacked = torch.stack(
            [tensors[i].detach().reshape(()).double() for i in indices])
        for i, value in zip(indices, stacked.tolist()):
            values[i] = (
                value if tensors[i].is_floating_point() else int(value))
    return values


def logger_interval(runner) -> Optional[int]:
    """The ``interval`` of the runner's ``LoggerHook`` (the smallest, if it
    has several); None if it has none."""
    return min((hook.interval
                for hook in runner.hooks if isinstance(hook, LoggerHook)),
               default=None)


@HOOKS.register_module()
class LazyRuntimeInfoHook(RuntimeInfoHook):
    """mmengine's ``RuntimeInfoHook``, reading the step's logged tensors
    from the device only where something reads them.

    mmengine's hook turns every value the training step logs into a
    Python number after every iteration (``tensor.item()``), which waits
    until the GPU has finished the step: the main thread, which loads the
    next batch and queues the next step's work, then starts on it only
    once the GPU has run dry. This hook keeps those values on the device
    and reads all of them at once where the message hub's history is
    read: at the iterations the ``LoggerHook`` logs, at the end of every
    epoch, before every checkpoint (whose copy of the message hub it
    renews) and at the end of training. The history is the same as with
    mmengine's hook, value for value.

    Between those points the history lacks the latest iterations, so a
    hook that reads ``train/loss`` (or another logged value) from the
    message hub at other iterations sees it late; hooks that read the
    step's ``outputs`` are unaffected.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: List[dict] = []
        self._log_interval: Optional[int] = None

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._log_interval = logger_interval(runner)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if outputs:
            self._pending.append({
                key:
                value.detach() if isinstance(value, torch.Tensor) else value
                for key, value in outputs.items()
            })
        logs = (
            self._log_interval is not None
            and self.every_n_inner_iters(batch_idx, self._log_interval))
        if logs or self.end_of_epoch(runner.train_dataloader, batch_idx):
            self.flush(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._pending:
            self.flush(runner)
            checkpoint['message_hub'] = runner.message_hub.state_dict()

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)

    def flush(self, runner) -> None:
        """Add the values of the iterations since the last flush to the
        message hub, in order, reading their tensors at once."""
        tensors = [
            value for outputs in self._pending for value in outputs.values()
            if isinstance(value, torch.Tensor)
        ]
        numbers = iter(read_scalars(tensors))
        for outputs in self._pending:
            for key, value in outputs.items():
                if isinstance(value, torch.Tensor):
                    value = next(numbers)
                runner.message_hub.update_scalar(f'train/{key}', value)
        self._pending.clear()
