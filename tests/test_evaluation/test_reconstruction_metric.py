import math
import re

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample
from skimage.metrics import peak_signal_noise_ratio

from mae_plugin.evaluation import ReconstructionMetric, psnr
from mae_plugin.registry import METRICS
from mae_plugin.registry import MODELS as METRICS_MODELS
from ..conftest import tiny_mae_cfg


def run(metric, mses, losses=None):
    losses = losses or [0.5] * len(mses)
    metric.process(None, [dict(masked_mse=m, masked_loss=loss)
                          for m, loss in zip(mses, losses)])
    return metric.evaluate(len(mses))


def test_mean_mse_and_mean_of_per_image_psnr():
    # PSNR = 10 * log10(255^2 / mse), 255^2 = 65025:
    #   mse  65.025 -> 10 * log10(1000) = 30 dB
    #   mse 650.25  -> 10 * log10(100)  = 20 dB
    # mse  = (65.025 + 650.25) / 2 = 357.6375
    # psnr = (30 + 20) / 2 = 25 dB; the PSNR of the mean MSE would be
    # 10 * log10(65025 / 357.6375) = 22.6 dB, and 20 * log10 would give
    # 50 dB: both are ruled out.
    metrics = run(ReconstructionMetric(),
                  [torch.tensor(65.025, dtype=torch.float64), 650.25],
                  [torch.tensor(0.25), 0.75])
    assert set(metrics) == {
        'reconstruction/mse', 'reconstruction/psnr', 'reconstruction/loss'
    }
    assert metrics['reconstruction/loss'] == 0.5
    assert metrics['reconstruction/mse'] == pytest.approx(357.6375, rel=1e-12)
    assert metrics['reconstruction/psnr'] == pytest.approx(25.0, rel=1e-12)


def test_max_pixel_value_sets_the_peak():
    # Peak 1: mse 1e-2 -> 20 dB, mse 1e-4 -> 40 dB; mean 30 dB.
    # mse = (0.01 + 0.0001) / 2 = 0.00505
    metrics = run(ReconstructionMetric(max_pixel_value=1.), [1e-2, 1e-4])
    assert metrics['reconstruction/mse'] == pytest.approx(0.00505, rel=1e-12)
    assert metrics['reconstruction/psnr'] == pytest.approx(30.0, rel=1e-12)


def test_a_perfect_reconstruction_is_infinite_as_in_skimage():
    """A floor of 1e-10 under the error scored 148.13 dB (at peak 255),
    and crop_fidelity.mad_psnr said inf for the same error."""
    metrics = run(ReconstructionMetric(), [0., 65.025])
    assert metrics['reconstruction/mse'] == pytest.approx(32.5125, rel=1e-12)
    assert metrics['reconstruction/psnr'] == math.inf
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    for other, expected in [(image, math.inf), (image + 3, 20 * math.log10(
            255 / 3))]:
        mse = float(np.mean(np.square(other - image.astype(float))))
        with np.errstate(divide='ignore'):  # skimage's 1 / 0
            reference = peak_signal_noise_ratio(image, other, data_range=255)
        assert psnr(mse) == pytest.approx(reference, rel=1e-12)
        assert psnr(mse) == pytest.approx(expected, rel=1e-12)


def test_reads_masked_mse_of_data_samples_through_the_evaluator():
    """What the val loop does: ``MAE.predict``'s data samples (a 0-d tensor
    ``masked_mse`` in the metainfo) go through ``Evaluator.process``."""
    init_default_scope('mae_plugin')
    metric = METRICS.build(dict(type='ReconstructionMetric', prefix='val'))
    assert isinstance(metric, ReconstructionMetric)
    evaluator = Evaluator(metric)
    samples = []
    for mse in (650.25, 6502.5, 65.025):  # 20, 10 and 30 dB
        sample = DataSample()
        sample.set_field(torch.tensor(mse, dtype=torch.float64),
                         'masked_mse', field_type='metainfo')
        sample.set_field(torch.tensor(mse / 1000), 'masked_loss',
                         field_type='metainfo')
        samples.append(sample)
    evaluator.process(samples[:2])
    evaluator.process(samples[2:])
    metrics = evaluator.evaluate(3)
    # mse = (650.25 + 6502.5 + 65.025) / 3 = 7217.775 / 3 = 2405.925
    assert metrics['val/mse'] == pytest.approx(2405.925, rel=1e-12)
    assert metrics['val/psnr'] == pytest.approx(20.0, rel=1e-12)
    assert metrics['val/loss'] == pytest.approx(2.405925, rel=1e-6)


@pytest.mark.parametrize('key', ['masked_mse', 'masked_loss'])
def test_a_sample_without_masked_mse_or_loss_is_an_error(key):
    sample = dict(masked_mse=1., masked_loss=1.)
    del sample[key]
    with pytest.raises(KeyError, match=key):
        ReconstructionMetric().process(None, [sample])


def test_an_empty_evaluation_is_an_error_not_a_division_by_zero():
    with pytest.raises(ValueError, match='ReconstructionMetric got no '
                       'images.*dataloader'):
        ReconstructionMetric().evaluate(0)


@pytest.mark.parametrize('peak, error', [(0, ValueError),
                                         (-255., ValueError),
                                         (float('inf'), ValueError),
                                         ('x', TypeError)])
def test_a_peak_that_is_not_positive_is_refused_at_build(peak, error):
    """0 failed with log10's 'math domain error' only once a whole
    validation epoch had run; -255 gave the PSNR of +255."""
    with pytest.raises(error, match='max_pixel_value must be'):
        ReconstructionMetric(max_pixel_value=peak)


@pytest.mark.parametrize('mse, error, got', [
    (-1., ValueError, '-1.0'),
    (math.nan, ValueError, 'nan'),
    (math.inf, ValueError, 'inf'),
    (None, TypeError, 'None (NoneType)'),
])
def test_psnr_refuses_an_mse_that_is_not_a_finite_number_above_0(
        mse, error, got):
    """A negative error scored 148 dB (as a perfect reconstruction) and
    NaN a NaN PSNR."""
    with pytest.raises(error, match=re.escape(
            f'mse must be a number in [0, inf), got {got}')):
        psnr(mse)
    with pytest.raises(ValueError, match=re.escape(
            'max_pixel_value must be a number in (0, inf), got 0.0')):
        psnr(1., max_pixel_value=0)
    assert psnr(65.025) == pytest.approx(30.0, rel=1e-12)


def test_a_diverged_model_is_an_error_not_a_nan_psnr():
    with pytest.raises(ValueError, match=re.escape(
            'ReconstructionMetric: masked_mse must be finite, got NaN or '
            'inf for 2 of 3 images')):
        run(ReconstructionMetric(), [1., math.nan, math.inf])


def test_images_with_no_removed_patch_are_an_error_not_a_perfect_score():
    """``mask_ratio=0`` with ``loss_on_visible`` (how a model trains
    without masking) removes no patch: ``MAE.predict``'s masked MSE is 0
    over no pixels, which scored as a perfect reconstruction; with a
    masking that removes patches the same images are scored."""
    init_default_scope('mae_plugin')
    cfg = tiny_mae_cfg()
    cfg['backbone']['masking'] = dict(type='RandomMasking', mask_ratio=0.)
    cfg['head']['loss_on_visible'] = True
    model = METRICS_MODELS.build(cfg).eval()
    inputs = torch.rand(3, 3, 32, 32) * 255
    metric = ReconstructionMetric()
    metric.process(None, [s.to_dict() for s in model.predict(inputs)])
    with pytest.raises(ValueError) as error:
        metric.evaluate(3)
    assert str(error.value) == (
        'ReconstructionMetric measures the removed patches, but the masking '
        'removed none of 3 of 3 images (backbone.masking: mask_ratio 0 '
        'trains with head.loss_on_visible); evaluate with a masking that '
        'removes patches, or without this metric')
    model.backbone.masking.mask_ratio = 0.75
    metric = ReconstructionMetric()
    metric.process(None, [s.to_dict() for s in model.predict(inputs)])
    assert metric.evaluate(3)['reconstruction/mse'] > 0
