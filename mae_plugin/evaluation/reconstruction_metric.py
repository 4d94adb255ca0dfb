"""Reconstruction quality of MAE's ``predict`` outputs."""
import math
from typing import List, Optional, Sequence, Tuple

from mmengine.evaluator import BaseMetric

from mae_plugin.registry import METRICS
from mae_plugin.utils import check_number


def _check_peak(max_pixel_value: float) -> float:
    """``max_pixel_value`` if finite and > 0 (0 failed in ``log10``, a
    negative peak gave the PSNR of its opposite)."""
    return check_number(
        'max_pixel_value',
        max_pixel_value,
        0,
        low_open=True,
        high_open=True)


def psnr(mse: float, max_pixel_value: float = 255.) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error,
    ``10 * log10(max_pixel_value**2 / mse)``: the plugin's one PSNR.

    A zero error (identical images) is ``inf``, as scikit-image's
    ``peak_signal_noise_ratio`` and mmagic's ``PSNR`` give it; a floor
    under the error would make it a finite number that depends on the
    peak and reads like a measurement (1e-10 gave 148.13 dB at 255).

    Args:
        mse (float): The error, finite and >= 0.
        max_pixel_value (float): Peak value, finite and > 0. Defaults to
            255.

    Raises:
        TypeError: ``mse`` or ``max_pixel_value`` is not a number.
        ValueError: ``mse`` is negative (which scored as a perfect
            reconstruction) or not finite (NaN gave a NaN PSNR), or
            ``max_pixel_value`` is not finite and > 0.
    """
    mse = check_number('mse', mse, 0, math.inf, high_open=True)
    max_pixel_value = _check_peak(max_pixel_value)
    if mse == 0:
        return math.inf
    return 10 * math.log10(max_pixel_value**2 / mse)


@METRICS.register_module()
class ReconstructionMetric(BaseMetric):
    """Masked-patch MSE, PSNR and loss, averaged over images.

    Reads the ``masked_mse`` (pixel-value MSE over the removed patches) and
    ``masked_loss`` (the head's loss over them) that :meth:`MAE.predict`
    stores in every data sample. A norm-pix model's reconstructions take
    every removed patch's mean and standard deviation from the true image,
    so its ``mse`` and ``psnr`` are better than its predictions and compare
    only with other norm-pix runs; ``loss`` (in the normalised space it
    was trained in) takes no statistics from the true removed patches. A NaN or
    infinite ``masked_mse`` (a diverged model) is an error of
    :meth:`compute_metrics`, not a NaN PSNR, and so is an image whose
    ``mask`` (``[h, w]``, 1 = removed, where the sample has one) removes no
    patch: its ``masked_mse`` is 0 over no pixels, not a perfect score
    (``mask_ratio=0`` with ``head.loss_on_visible``). An image
    reconstructed exactly (``masked_mse`` 0) has an infinite :func:`psnr`,
    and so has the mean.

    Args:
        max_pixel_value (float): Peak value for PSNR, finite and > 0.
            Defaults to 255.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to None:
            ``'reconstruction'`` (``default_prefix``).
    """
    default_prefix = 'reconstruction'

    def __init__(self,
                 max_pixel_value: float = 255.,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        # checked here, not after a whole validation epoch
        self.max_pixel_value = _check_peak(max_pixel_value)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            removed = int(sample['mask'].sum()) if 'mask' in sample else None
            self.results.append((float(sample['masked_mse']),
                                 float(sample['masked_loss']), removed))

    def compute_metrics(
            self, results: List[Tuple[float, float, Optional[int]]]) -> dict:
        if not results:
            raise ValueError(
                f'{type(self).__name__} got no images: the evaluated '
                'dataloader (val_dataloader or test_dataloader) yielded '
                'none; check its dataset')
        mses, losses, removed = zip(*results)
        unmasked = removed.count(0)
        if unmasked:
            raise ValueError(
                f'{type(self).__name__} measures the removed patches, but '
                f'the masking removed none of {unmasked} of {len(mses)} '
                'images (backbone.masking: mask_ratio 0 trains with '
                'head.loss_on_visible); evaluate with a masking that '
                'removes patches, or without this metric')
        broken = sum(not math.isfinite(mse) for mse in mses)
        if broken:  # a diverged model; its PSNR would be NaN or -inf
            raise ValueError(
                f'{type(self).__name__}: masked_mse must be finite, got '
                f'NaN or inf for {broken} of {len(mses)} images')
        psnrs = [psnr(mse, self.max_pixel_value) for mse in mses]
        return dict(
            mse=sum(mses) / len(mses),
            psnr=sum(psnrs) / len(psnrs),
            loss=sum(losses) / len(losses))
