"""Reconstruction quality of MAE's ``predict`` outputs."""
import math
from typing import List, Optional, Sequence

from mmengine.evaluator import BaseMetric

from mae_plugin.registry import METRICS
from mae_plugin.utils import check_number


def psnr(mse: float, max_pixel_value: float = 255.) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error (a zero
    error counts as 1e-10)."""
    return 10 * math.log10(max_pixel_value**2 / max(mse, 1e-10))


@METRICS.register_module()
class ReconstructionMetric(BaseMetric):
    """Masked-patch MSE and PSNR, averaged over images.

    Reads the ``masked_mse`` that :meth:`MAE.predict` stores in every data
    sample (pixel-value MSE over the removed patches).

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
        self.max_pixel_value = check_number(
            'max_pixel_value',
            max_pixel_value,
            0,
            low_open=True,
            high_open=True)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            self.results.append(float(sample['masked_mse']))

    def compute_metrics(self, results: List[float]) -> dict:
        if not results:
            raise ValueError(
                f'{type(self).__name__} got no images: the evaluated '
                'dataloader (val_dataloader or test_dataloader) yielded '
                'none; check its dataset')
        psnrs = [psnr(mse, self.max_pixel_value) for mse in results]
        return dict(
            mse=sum(results) / len(results), psnr=sum(psnrs) / len(psnrs))
