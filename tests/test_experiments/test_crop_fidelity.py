"""tools/analysis_tools/compare_crops.py's measurement: crops against
torchvision on PIL for the same boxes, and their cost."""
import cv2
import numpy as np
import pytest

from mae_plugin.experiments import (CROP_SETTINGS, format_crop_report,
                                    measure_crop_fidelity, time_crops)
from mae_plugin.experiments.crop_fidelity import (DEVICE_CROP, REFERENCE,
                                                  mad_psnr)


@pytest.fixture(scope='module')
def jpegs(tmp_path_factory):
    """Two 160x120 JPEGs with fine detail: 32-pixel crops shrink them
    enough to alias and to decode at reduced size."""
    root = tmp_path_factory.mktemp('jpegs')
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        small = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
        path = str(root / f'{i}.jpg')
        cv2.imwrite(
            path,
            cv2.resize(small, (160, 120), interpolation=cv2.INTER_NEAREST))
        paths.append(path)
    return paths


def test_antialias_in_full_is_the_reference_and_opencv_is_not(jpegs):
    fidelity = measure_crop_fidelity(jpegs, scale=32, crops_per_image=3)
    assert set(fidelity) == set(CROP_SETTINGS) | {DEVICE_CROP}
    scores = {name: mad_psnr(f.sums) for name, f in fidelity.items()}
    # PIL's resampling of OpenCV's full decode: the reference, exactly
    assert scores['antialias, full decode'] == (0, float('inf'))
    # OpenCV's bicubic aliases; reduced decoding averages blocks first
    assert scores['opencv, full decode'][0] > 5
    assert scores['antialias'][1] > scores['opencv'][1]
    # torch's kernels: PIL's filters, apart by a rounding
    mad, psnr = scores['antialias, torch, full decode']
    assert mad < 0.05 and psnr > 55
    torch_full = fidelity['antialias, torch, full decode']
    assert torch_full.sums[4] > 0.9 * torch_full.sums[2]
    assert torch_full.largest <= 5
    # the device-crop path: PIL's filters in float, without PIL's
    # rounding between its passes
    mad, psnr = scores[DEVICE_CROP]
    assert mad < 0.3 and psnr > 50
    device = fidelity[DEVICE_CROP]
    assert device.sums[4] > 0.75 * device.sums[2] and device.largest <= 5
    assert fidelity[DEVICE_CROP].by_factor.keys() == {1}
    exact = fidelity['antialias, full decode']
    assert exact.sums[4] == exact.sums[2] and exact.largest == 0
    # the same decodes
    assert fidelity['antialias, torch'].by_factor.keys() == fidelity[
        'antialias'].by_factor.keys()
    for result in fidelity.values():
        assert result.sums[3] == 6
        assert sum(s[3] for s in result.by_factor.values()) == 6
    assert max(fidelity['antialias'].by_factor) > 1  # reduced decodes
    ms = time_crops(jpegs, scale=32, rounds=1)
    assert set(ms) == set(CROP_SETTINGS) | {DEVICE_CROP, REFERENCE}
    assert all(value > 0 for value in ms.values())
    report = format_crop_report(fidelity, ms)
    assert '| antialias, full decode | 0.00 | inf | 100.0% | 0 |' in report
    assert f'| {REFERENCE} | 0 | inf |' in report
