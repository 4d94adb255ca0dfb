"""Fixtures of the API tests."""
import cv2
import numpy as np
import pytest


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    """A 32 x 32 PNG of random colours."""
    path = str(tmp_path_factory.mktemp('images') / 'img.png')
    rng = np.random.default_rng(0)
    cv2.imwrite(path, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return path
