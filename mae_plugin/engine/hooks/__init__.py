from .atomic_checkpoint_hook import AtomicCheckpointHook
from .finite_loss_hook import FiniteLossHook
from .unreadable_images_hook import UnreadableImagesHook

__all__ = ['AtomicCheckpointHook', 'FiniteLossHook', 'UnreadableImagesHook']
