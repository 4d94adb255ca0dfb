"""The global state each test starts from (tests/conftest.py)."""
import random

import numpy as np
import torch


def draws() -> tuple:
    """One number from each global generator."""
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_every_test_starts_from_seed_0_whatever_the_session_seed():
    """Under pytest-randomly (the README's test command) ``random`` and
    NumPy started from the session's seed, which changes each run."""
    first = draws()
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    assert first == draws()
