"""Argument checks shared by the benchmarks."""
from typing import Sequence

from mae_plugin.utils import check_positive_int


def check_timing_arguments(kind: str, names: Sequence[str],
                           choices: Sequence[str], warmup: int,
                           rounds: int) -> None:
    """Refuse, naming the argument, names not in ``choices`` (``kind``
    names them in the message), a ``warmup`` that is not an int >= 0 and
    ``rounds`` < 1."""
    unknown = set(names) - set(choices)
    if unknown:
        raise ValueError(f'unknown {kind} {sorted(unknown)}; choose from '
                         f'{tuple(choices)}')
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f'warmup must be an int >= 0, got {warmup!r}')
    check_positive_int('rounds', rounds)
