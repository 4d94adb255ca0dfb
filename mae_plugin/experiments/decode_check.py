"""Does decoding JPEGs on the GPU overwrite memory that kernels queued on
the current stream still read? torchvision's nvJPEG decoder can
(pytorch/vision#9606);
:func:`~mae_plugin.models.data_preprocessors.decode_jpegs`, which the
device-crop data preprocessor decodes with, should not.

Every round of :func:`check_decoder` does what a training step followed by
the next batch's decoding does: it fills tensors the size of the decoded
images, queues slow kernels and then one sum per tensor behind them, frees
the tensors while the sums are still queued (the caching allocator may
hand their memory out again at once), decodes, waits for the device and
compares the sums with what the tensors held, and the images with a
decoding made while the device was idle.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import torch
from torchvision.io import ImageReadMode, decode_jpeg

from mae_plugin.models.data_preprocessors import decode_jpegs
from mae_plugin.utils import check_device, check_positive_int
from .timing import synchronize

#: ``decode(files, paths, device) -> images``
Decoder = Callable[[Sequence[torch.Tensor], Sequence[str], torch.device],
                   List[torch.Tensor]]


def _torchvision(files: Sequence[torch.Tensor], paths: Sequence[str],
                 device: torch.device) -> List[torch.Tensor]:
    return decode_jpeg(list(files), mode=ImageReadMode.RGB, device=device)


#: The decoders checked: torchvision's called as is, and the plugin's.
DECODERS: Dict[str, Decoder] = {
    'torchvision': _torchvision,
    'mae_plugin': decode_jpegs
}


@dataclass
class DecodeCheck:
    """What :func:`check_decoder` found.

    Attributes:
        decoder (str): Name of the decoder.
        rounds (int): Rounds run.
        corrupted_reads (int): Rounds in which a queued sum saw other
            values than its tensor held (the decoder wrote into memory
            before the kernels that read it had run).
        wrong_images (int): Rounds in which a decoded image differed from
            the decoding made while the device was idle.
    """
    decoder: str
    rounds: int
    corrupted_reads: int
    wrong_images: int

    @property
    def clean(self) -> bool:
        return self.corrupted_reads == 0 and self.wrong_images == 0


def check_decoder(decoder: str,
                  files: Sequence[torch.Tensor],
                  paths: Sequence[str],
                  device: torch.device,
                  rounds: int = 50,
                  busy_size: int = 4096,
                  busy_kernels: int = 30) -> DecodeCheck:
    """Run :data:`DECODERS` ``[decoder]`` in ``rounds`` rounds (see the
    module's docstring).

    Args:
        decoder (str): A key of :data:`DECODERS`.
        files (Sequence[Tensor]): JPEG files' bytes, ``uint8`` on the CPU.
        paths (Sequence[str]): Their names.
        device (torch.device): Where to decode.
        rounds (int): Rounds. Defaults to 50.
        busy_size (int): Side of the square matrices multiplied to keep the
            device busy. Defaults to 4096.
        busy_kernels (int): Matrix products queued before the sums in
            every round (on an H100, 4096² in fp32: a few ms each).
            Defaults to 30.
    """
    check_positive_int('rounds', rounds)
    check_positive_int('busy_size', busy_size)
    check_positive_int('busy_kernels', busy_kernels)
    check_device('device', device)
    if decoder not in DECODERS:
        raise ValueError(f'decoder must be one of {sorted(DECODERS)}, '
                         f'got {decoder!r}')
    decode = DECODERS[decoder]
    reference = decode(files, paths, device)
    synchronize(str(device))
    sizes = [img.numel() for img in reference]
    # [num_images]: the sum of tensor i, filled with i % 250 + 1
    expected = torch.tensor([(i % 250 + 1) * n for i, n in enumerate(sizes)])
    a = torch.rand(busy_size, busy_size, device=device)
    product = torch.empty_like(a)
    corrupted = wrong = 0
    for _ in range(rounds):
        held = [
            torch.full((n, ), i % 250 + 1, dtype=torch.uint8, device=device)
            for i, n in enumerate(sizes)
        ]
        synchronize(str(device))
        for _ in range(busy_kernels):
            torch.mm(a, a, out=product)
        sums = torch.stack([t.sum(dtype=torch.int64) for t in held])
        del held  # freed while the sums that read them are queued
        images = decode(files, paths, device)
        synchronize(str(device))
        corrupted += not torch.equal(sums.cpu(), expected)
        wrong += not all(
            torch.equal(img, ref) for img, ref in zip(images, reference))
    return DecodeCheck(decoder, rounds, corrupted, wrong)


def format_decode_check(results: Sequence[DecodeCheck]) -> str:
    """One line per decoder."""
    return '\n'.join(
        f'{r.decoder}: {r.corrupted_reads}/{r.rounds} rounds with a queued '
        f'read overwritten, {r.wrong_images}/{r.rounds} with a wrong image'
        for r in results)
