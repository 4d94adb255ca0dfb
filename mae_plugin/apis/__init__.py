from .inference import init_model, reconstruct_images
from .runner import (add_runner_args, init_cpu_distributed, parse_runner_args,
                     test_config, train_config)

__all__ = [
    'init_model', 'reconstruct_images', 'add_runner_args',
    'init_cpu_distributed', 'parse_runner_args',
    'test_config', 'train_config'
]
