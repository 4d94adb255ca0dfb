"""Helpers below every other layer: argument checks, a run's config and
atomic file writes."""
from .checks import (INPUT_ERRORS, add_device_arg, argparse_type, check_bool,
                     check_choice, check_choices, check_device,
                     check_device_arg, check_generator_seed, check_img_size,
                     check_int,
                     check_number, check_output_file, check_output_folder,
                     check_pair, check_path, check_paths, check_positive_int,
                     check_range, check_seed, check_seeds,
                     report_input_errors)
from .config import (CHECKPOINT_SUFFIXES, CONFIG_SUFFIXES, CfgOptionsAction,
                     add_config_arg, check_config_path, config_items,
                     innermost_dataset, load_config, merge_cfg_options)
from .files import atomic_write

__all__ = [
    'CHECKPOINT_SUFFIXES', 'CONFIG_SUFFIXES', 'INPUT_ERRORS',
    'CfgOptionsAction', 'add_config_arg', 'add_device_arg', 'argparse_type',
    'check_bool', 'check_choice', 'check_choices', 'check_config_path',
    'check_device', 'check_device_arg', 'check_generator_seed',
    'check_img_size', 'check_int',
    'check_number', 'check_output_file', 'check_output_folder', 'check_pair',
    'check_path', 'check_paths', 'check_positive_int', 'check_range',
    'check_seed', 'check_seeds', 'config_items', 'innermost_dataset',
    'load_config',
    'merge_cfg_options', 'report_input_errors', 'atomic_write'
]
