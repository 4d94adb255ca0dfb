from .config_checks import fewest_epochs
from .distributed import close_distributed, init_cpu_distributed
from .inference import (MASKING_STRATEGIES, CheckpointMismatchError,
                        build_masking, init_model, list_images,
                        reconstruct_images, set_masking)
from .inputs import (TEST_OUTPUTS, TRAIN_DATA_KEYS, check_data_roots,
                     check_datasets, check_pretrained_checkpoints,
                     check_test_output, check_train_inputs)
from .runner import (add_runner_args, build_runner, parse_runner_args,
                     test_config, train_config)

__all__ = [
    'MASKING_STRATEGIES', 'CheckpointMismatchError', 'build_masking',
    'init_model', 'list_images',
    'reconstruct_images', 'set_masking', 'add_runner_args', 'build_runner',
    'check_data_roots', 'check_datasets', 'check_pretrained_checkpoints',
    'check_test_output', 'check_train_inputs', 'close_distributed',
    'fewest_epochs',
    'init_cpu_distributed', 'TEST_OUTPUTS', 'TRAIN_DATA_KEYS',
    'parse_runner_args', 'test_config', 'train_config'
]
