"""Argument checks that name the offending config key."""
from numbers import Real
from typing import Any, Tuple


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 1.

    Raises:
        TypeError: ``value`` is not an int (``bool`` included).
        ValueError: ``value`` < 1.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, got {value!r} '
                        f'({type(value).__name__})')
    if value < 1:
        raise ValueError(f'{name} must be >= 1, got {value}')
    return value


def check_number(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number (not a bool).

    Raises:
        TypeError: ``value`` is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{name} must be a number, got {value!r} '
                        f'({type(value).__name__})')
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool.

    Raises:
        TypeError: ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        raise TypeError(f'{name} must be True or False, got {value!r} '
                        f'({type(value).__name__})')
    return value


def check_img_size(img_size: Any) -> Tuple[int, int]:
    """Return ``img_size`` (an int or a pair of ints) as ``(H, W)``.

    Raises:
        TypeError: ``img_size`` is neither.
        ValueError: a side is < 1.
    """
    if isinstance(img_size, (tuple, list)) and len(img_size) == 2:
        return tuple(check_positive_int('img_size', s) for s in img_size)
    if isinstance(img_size, int) and not isinstance(img_size, bool):
        size = check_positive_int('img_size', img_size)
        return size, size
    raise TypeError(f'img_size must be an int or a pair (H, W) of ints, got '
                    f'{img_size!r} ({type(img_size).__name__})')
