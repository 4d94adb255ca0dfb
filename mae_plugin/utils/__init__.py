"""Helpers below every other layer: argument checks."""
from .checks import (argparse_type, check_bool, check_choice, check_choices,
                     check_device, check_img_size, check_int, check_number,
                     check_pair, check_positive_int, check_range)

__all__ = [
    'argparse_type', 'check_bool', 'check_choice', 'check_choices',
    'check_device', 'check_img_size', 'check_int', 'check_number',
    'check_pair', 'check_positive_int', 'check_range'
]
