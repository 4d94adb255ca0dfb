"""The inference API's checks of its arguments (``reconstruct_images``):
a bad seed or scale is refused by name before any image is loaded."""
import os.path as osp
import re

import pytest
from mmengine.config import Config

from mae_plugin.apis import init_model, reconstruct_images
from ..conftest import ROOT, tiny_mae_cfg

DEMO = osp.join(ROOT, 'configs', 'mae',
                'mae_vit-tiny-p8_1xb32-coslr_demo-photos.py')
SEED_RULE = re.escape(f'must be an int in [{-2**63}, {2**64 - 1}]')


@pytest.fixture(scope='module')
def model():
    """A tiny MAE (32 x 32, 8 x 8 patches) with the demo config's image
    loading."""
    cfg = Config.fromfile(DEMO)
    cfg.model = tiny_mae_cfg()
    return init_model(cfg)


@pytest.mark.parametrize('seed, error, got', [
    (1.5, TypeError, '1.5 (float)'),
    (None, TypeError, 'None (NoneType)'),
    ('1', TypeError, "'1' (str)"),
    (True, TypeError, 'True (bool)'),
    (2**64, ValueError, str(2**64)),
])
def test_reconstruct_images_refuses_a_seed_manual_seed_cannot_take(
        model, image, seed, error, got):
    """The seed became the model's ``predict_seed`` unchecked, and
    ``MAE.predict`` failed with torch's "manual_seed expected a long"
    after the image was loaded."""
    before = model.predict_seed
    with pytest.raises(error, match=f'^seed {SEED_RULE}, got '
                       f'{re.escape(got)}$'):
        reconstruct_images(model, [image], seed=seed)
    assert model.predict_seed == before
    for seed in (-2**63, 2**64 - 1):  # the ends of torch's range
        reconstruct_images(model, [image], seed=seed)
        assert model.predict_seed == seed


@pytest.mark.parametrize('scale, error, got', [
    (0, ValueError, '0'),
    (-1, ValueError, '-1'),
    (2.0, TypeError, '2.0 (float)'),
    (True, TypeError, 'True (bool)'),
])
def test_reconstruct_images_refuses_a_scale_that_is_no_int_above_0(
        model, image, scale, error, got):
    """``scale=0`` returned an empty figure (``[0, 12, 3]``: the gaps
    between four panels of no pixel), -1 failed in NumPy with "negative
    dimensions are not allowed" and 2.0 or True drew figures."""
    with pytest.raises(error, match=f'^scale must be an int >= 1, got '
                       f'{re.escape(got)}$'):
        reconstruct_images(model, [image], scale=scale)
    figure = reconstruct_images(model, [image], scale=2)[0].figure
    assert figure.shape == (64, 4 * 64 + 3 * 4, 3)
