from .atomic_backend import AtomicLocalBackend, atomic_write
from .hooks import AtomicCheckpointHook, FiniteLossHook, UnreadableImagesHook
from .loops import ExactResumeEpochBasedTrainLoop
from .safe_loading import (MMENGINE_CHECKPOINT_GLOBALS,
                           allow_mmengine_checkpoints, load_checkpoint_safely,
                           use_safe_local_loader)

allow_mmengine_checkpoints()
use_safe_local_loader()

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'AtomicCheckpointHook',
    'FiniteLossHook', 'UnreadableImagesHook',
    'ExactResumeEpochBasedTrainLoop', 'MMENGINE_CHECKPOINT_GLOBALS',
    'allow_mmengine_checkpoints', 'load_checkpoint_safely',
    'use_safe_local_loader'
]
