"""Accuracy bounds from chance, for checks of small evaluations that do
not depend on one run's numbers."""
from math import comb


def above_chance(num_samples: int,
                 num_classes: int,
                 p_value: float = 1e-6) -> float:
    """The accuracy (%) that guessing uniformly among ``num_classes``
    reaches on ``num_samples`` balanced samples with probability below
    ``p_value``: the smallest ``k`` with ``P(Binomial(n, 1/C) >= k) <
    p_value``, as a percentage of ``n``. A classifier at or above it has
    learnt something from its labels."""
    p = 1 / num_classes
    tail = 1.
    for k in range(num_samples + 1):
        if tail < p_value:
            return 100. * k / num_samples
        tail -= comb(num_samples, k) * p**k * (1 - p)**(num_samples - k)
    return 100.
