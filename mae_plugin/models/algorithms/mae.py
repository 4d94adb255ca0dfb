"""The MAE algorithm: encoder, decoder and pixel head in the runner."""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mae_plugin.registry import MODELS, build_model
from mae_plugin.utils import check_generator_seed
from ..data_preprocessors import DeviceCropDataPreprocessor


@torch.compiler.disable
def _preprocess(model, data: dict) -> dict:
    """The data preprocessor on the training batch's inputs, never
    compiled.

    The data samples pass around it: the loss reads none of them, and
    copying each to the device takes the main thread, which issues the
    GPU's work, about 30 us per image (7 ms a batch of 256 on a 2-core
    AMD EPYC). Compiled, the preprocessor's copies of the
    data samples would make dynamo guard on their file names and flips
    and compile the step again for every batch.
    """
    samples = data.get('data_samples')
    data = model.data_preprocessor({**data, 'data_samples': None}, True)
    model.warn_of_another_grid(data['inputs'])
    return {**data, 'data_samples': samples}


def _check_normalisation(data_preprocessor: dict) -> None:
    """Refuse a ``mean`` or ``std`` that mmengine's data preprocessors
    assert on while they are built ("mean should have 1 or 3 values",
    naming no key): they normalise 1 or 3 channels, and one value serves
    every channel of other counts."""
    for key in ('mean', 'std'):
        values = data_preprocessor.get(key)
        if values is not None and len(values) not in (1, 3):
            raise ValueError(
                f'data_preprocessor.{key} must have 1 value (for every '
                f'channel) or 3 (one per colour), as mmengine normalises, '
                f'got {len(values)}')


@torch.compiler.disable
def _update_params(optim_wrapper: OptimWrapper, loss: torch.Tensor) -> None:
    """Backward and optimizer step, never compiled."""
    optim_wrapper.update_params(loss)


# The step between the mask seeds of consecutive images (odd, the golden
# ratio times 2**64, as SplitMix64 steps): image k's seed lies far from
# image k+1's and from another run's seed plus one.
_IMAGE_SEED_STEP = 0x9E3779B97F4A7C15


def image_seed(seed: int, key: int) -> int:
    """The seed of image ``key``'s mask in ``predict`` (``key`` its
    dataset index): ``seed`` itself for key 0, so an image reconstructed
    alone keeps the mask of ``seed``; within ``torch.Generator
    .manual_seed``'s range ``[-2**63, 2**64 - 1]`` as ``seed`` is."""
    value = seed + key * _IMAGE_SEED_STEP
    return value if value < 2**64 else value % 2**64


def _fill_in(cfg, **defaults):
    """A sub-module config with ``defaults`` for the keys it leaves out; an
    already built module is returned as is."""
    return {**defaults, **cfg} if isinstance(cfg, dict) else cfg


@MODELS.register_module()
class MAE(BaseSelfSupervisor):
    """Masked Autoencoder (He et al., 2021).

    ``backbone`` (:class:`MAEViT`) masks and encodes, ``neck``
    (:class:`MAEDecoder`) decodes every patch, ``head``
    (:class:`MAEPixelHead`) computes the loss and maps predictions back to
    pixels.

    Modes of :meth:`forward`:

    * ``'loss'``: ``{'loss': masked-patch MSE}``.
    * ``'tensor'``: unmasked encoder features (``backbone(x, mask=False)``).
    * ``'predict'``: data samples carrying ``reconstruction`` (``[C, H, W]``
      in input pixel values, the data preprocessor's normalisation undone),
      ``mask`` (``[h, w]``, 1 = removed), ``masked_mse`` (pixel-value MSE
      over the removed patches) and ``masked_loss`` (the loss over them).

    The dimensions are written once, on the backbone: the neck's
    ``in_channels`` (the encoder width), ``img_size``, ``patch_size`` and
    ``out_channels`` (the image channels) and the head's ``patch_size`` are
    taken from it unless the config sets them; a value set that disagrees
    with the backbone is an error naming both keys, and so is a
    ``data_preprocessor`` whose ``mean`` and ``std`` or channel swap
    (``to_rgb``) do not fit ``backbone.in_channels``. The training images'
    size is the pipeline's (or the device crops'): the first batch of
    another patch grid than ``backbone.img_size``'s is warned of
    (:meth:`warn_of_another_grid`).

    Args:
        backbone (dict): Encoder config.
        neck (dict): Decoder config; keys it leaves out of the above come
            from the backbone.
        head (dict): Pixel head config; ``patch_size`` comes from the
            backbone unless set.
        predict_seed (int): Seed of the masks of ``predict``: each image's
            is drawn by a CPU generator of its own, seeded from this and
            the image's dataset index (:func:`image_seed`), so an image is
            evaluated with the same mask every time, in any batch, process
            or device, and the global RNG (the training run's) is left
            untouched; in ``[-2**63, 2**64 - 1]``, the range of
            ``torch.Generator.manual_seed``. Defaults to 0.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 predict_seed: int = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None or isinstance(data_preprocessor, dict):
            data_preprocessor = {
                'type': 'SelfSupDataPreprocessor',
                **(data_preprocessor or {})
            }
            _check_normalisation(data_preprocessor)
        encoder = build_model(backbone)
        neck = _fill_in(
            neck,
            in_channels=encoder.embed_dims,
            img_size=encoder.img_size,
            patch_size=encoder.patch_size,
            out_channels=encoder.in_channels)
        head = _fill_in(head, patch_size=encoder.patch_size)
        super().__init__(
            backbone=encoder,
            neck=build_model(neck),
            head=build_model(head),
            data_preprocessor=build_model(data_preprocessor),
            init_cfg=init_cfg)
        # checked here, not at the first validation after an epoch
        self.predict_seed = check_generator_seed('predict_seed', predict_seed)
        self._check_compatible()
        self._another_grid_warned = False

    def _check_compatible(self) -> None:
        """Fail at build time when the three parts cannot work together."""
        encoder, decoder, head = self.backbone, self.neck, self.head
        checks = [
            ('neck.in_channels', decoder.in_channels, 'backbone.arch '
             'embed_dims', encoder.embed_dims),
            ('neck.img_size', decoder.img_size, 'backbone.img_size',
             encoder.img_size),
            ('neck.patch_size', decoder.patch_size, 'backbone.patch_size',
             encoder.patch_size),
            ('head.patch_size', head.patch_size, 'backbone.patch_size',
             encoder.patch_size),
            ('neck.out_channels', decoder.out_channels, 'backbone.in_channels',
             encoder.in_channels),
        ]
        for name, value, other, expected in checks:
            if value != expected:
                raise ValueError(
                    f'{name}={value} does not match {other}={expected}')
        # else the first batch fails with an IndexError or a broadcast
        preprocessor, channels = self.data_preprocessor, encoder.in_channels
        if getattr(preprocessor, '_channel_conversion', False) and (
                channels != 3):
            raise ValueError(
                'data_preprocessor.to_rgb (bgr_to_rgb, rgb_to_bgr) swaps '
                f'3 colour channels, but backbone.in_channels={channels}')
        if getattr(preprocessor, '_enable_normalize', False) and (
                preprocessor.mean.numel() not in (1, channels)):
            raise ValueError(
                f'data_preprocessor.mean and std have '
                f'{preprocessor.mean.numel()} values, but '
                f'backbone.in_channels={channels}')
        if isinstance(preprocessor, DeviceCropDataPreprocessor) and (
                channels != 3):
            raise ValueError(
                'data_preprocessor (DeviceCropDataPreprocessor) makes RGB '
                f'crops of 3 channels, but backbone.in_channels={channels}')
        values = encoder.patch_size**2 * channels
        if head.norm_pix and values < 2:
            raise ValueError(
                'head.norm_pix normalises every patch by its own mean and '
                f'variance, which needs at least 2 values, but a patch has '
                f'{values} (backbone.patch_size={encoder.patch_size}, '
                f'backbone.in_channels={channels})')
        # Checked here, once, rather than on every step's mask (which would
        # wait for the GPU).
        grid = encoder.patch_resolution
        if (not head.loss_on_visible
                and encoder.masking.mask_ratio_on(grid) == 0):
            raise ValueError(
                f'backbone.masking ({type(encoder.masking).__name__}) removes '
                f'no patch of the {grid[0]}x{grid[1]} grid, so the loss over '
                'removed patches would be 0/0: remove some (mask_ratio > 0, '
                'a GridMasking stride > 1) or set head.loss_on_visible=True '
                'to average over all patches')

    def warn_of_another_grid(self, inputs: torch.Tensor) -> None:
        """Warn, once, of training inputs ``[N, C, H, W]`` whose patch grid
        is not ``backbone.img_size``'s.

        The encoder and decoder make their sin-cos positions for any grid,
        so such a batch trains, at the size that the pipeline's crop (or
        the device crops' ``scale``) gives: a config that changed
        ``model.backbone.img_size`` alone trained at the old size.
        """
        p = self.backbone.patch_size
        grid = (inputs.shape[2] // p, inputs.shape[3] // p)
        expected = tuple(self.backbone.patch_resolution)
        if self._another_grid_warned or grid == expected:
            return
        self._another_grid_warned = True
        size = tuple(self.backbone.img_size)
        print_log(
            f'training images of {inputs.shape[2]}x{inputs.shape[3]} pixels '
            f'({grid[0]}x{grid[1]} patches) differ from model.backbone.'
            f'img_size {size} ({expected[0]}x{expected[1]} patches); the '
            'sin-cos positions follow the images. To train at img_size, '
            "set the training pipeline's crop scale (the data "
            "preprocessor's scale with device crops) to it too",
            logger='current',
            level=logging.WARNING)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """Dispatch to ``loss``, ``predict`` or feature extraction.

        Raises:
            TypeError: ``data_samples`` is neither None nor a list or tuple
                (the official code's ``forward(imgs, mask_ratio)`` would
                pass a ratio there).
        """
        if data_samples is not None and not isinstance(
                data_samples, (list, tuple)):
            raise TypeError(
                'data_samples must be a list of data samples (one per image) '
                f'or None, got {data_samples!r} '
                f'({type(data_samples).__name__}); a mask ratio is the '
                "encoder's masking generator's (mae_plugin.apis.set_masking) "
                "and mode='loss' returns the loss")
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        """Unmasked encoder features, as the backbone's ``out_type``."""
        return self.backbone(inputs, mask=False)

    def reconstruct(
        self,
        inputs: torch.Tensor,
        noise: Optional[torch.Tensor] = None,
        generator: Union[torch.Generator, Sequence[torch.Generator],
                         None] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Run the whole model on a batch.

        Args:
            inputs (Tensor): ``[N, C, H, W]`` preprocessed images.
            noise (Tensor, optional): ``[N, L]`` masking noise.
            generator (torch.Generator | Sequence[torch.Generator],
                optional): RNG for the masks, or one per image.

        Returns:
            tuple: predictions ``[N, L, p*p*C]`` (in the head's target space)
            and mask ``[N, L]`` (1 = removed).
        """
        latent, mask, ids_restore = self.backbone(
            inputs, noise=noise, generator=generator)
        p = self.backbone.patch_size  # inputs checked by the backbone
        grid_size = (inputs.shape[2] // p, inputs.shape[3] // p)
        pred = self.neck(latent, ids_restore, grid_size)
        return pred, mask

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Masked-patch reconstruction loss of a batch."""
        pred, mask = self.reconstruct(inputs)
        return self.head.loss(pred, inputs, mask)

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """mmengine's training step with the data preprocessor and the
        parameter update run eagerly.

        The runner's ``compile`` setting wraps this method in
        ``torch.compile``, which then compiles the forward, loss and
        (through AOT autograd) backward. Tracing the optimizer's ``step``
        fails in dynamo (torch 2.14), and traced, the preprocessor's copies
        of the data samples would make dynamo compile the step again for
        every batch, so both stay out.
        """
        with optim_wrapper.optim_context(self):
            data = _preprocess(self, data)
            losses = self._run_forward(data, mode='loss')
        parsed_loss, log_vars = self.parse_losses(losses)
        _update_params(optim_wrapper, parsed_loss)
        return log_vars

    def to_pixels(self, imgs: torch.Tensor) -> torch.Tensor:
        """Undo the data preprocessor's normalisation."""
        preprocessor = self.data_preprocessor
        if getattr(preprocessor, '_enable_normalize', False):
            return imgs * preprocessor.std + preprocessor.mean
        return imgs

    @torch.no_grad()
    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Reconstruct a batch with reproducible masks.

        Image ``i`` is masked with noise drawn by a CPU generator seeded
        with ``image_seed(predict_seed, key)``, ``key`` being its data
        sample's ``sample_idx`` (its index in the dataset, which
        mmengine's datasets set), or ``i`` without one: its mask, hence its
        metrics, do not depend on the batch size, the number of processes
        or the device.

        Args:
            inputs (Tensor): ``[N, C, H, W]`` preprocessed images.
            data_samples (list[DataSample], optional): One per image, to
                set the results in. Defaults to None (new ones).
            **kwargs: Ignored, as mmpretrain's ``predict`` takes them.

        Returns:
            list[DataSample]: one per image with ``reconstruction`` (pixel
            values as predicted, not clipped to the pixel range: the
            visualizer clips), ``mask`` (``[h, w]``, 1 = removed),
            ``masked_mse`` (of that reconstruction over the removed
            patches, in pixel values) and ``masked_loss`` (the head's loss
            over the removed patches of that image, in its target space)
            set. With ``norm_pix`` the reconstruction, so ``masked_mse``,
            holds the true statistics of every removed patch (see
            :meth:`MAEPixelHead.reconstruct`); ``masked_loss`` does not.

        Raises:
            ValueError: ``data_samples`` are not one per image, or
                ``inputs`` is not ``[N, C, H, W]`` with the backbone's ``C``
                and sides that are multiples of the patch.
            TypeError: ``inputs`` is not floating point (raw ``uint8``
                pixels: the data preprocessor makes floats), or of another
                dtype than the weights outside ``torch.autocast``.
        """
        n = inputs.shape[0]
        if data_samples is not None and len(data_samples) != n:
            raise ValueError(
                f'data_samples must be one per image of inputs ({n}), got '
                f'{len(data_samples)}')
        keys = range(n) if data_samples is None else [
            sample.metainfo.get('sample_idx', i)
            for i, sample in enumerate(data_samples)
        ]
        # CPU generators, whatever the device: the same masks everywhere.
        # The backbone checks the inputs before it draws their masks.
        pred, mask = self.reconstruct(
            inputs,
            generator=[
                torch.Generator().manual_seed(
                    image_seed(self.predict_seed, int(key))) for key in keys
            ])
        p = self.backbone.patch_size
        recon = self.to_pixels(self.head.reconstruct(pred, inputs))
        error = (recon - self.to_pixels(inputs)).pow(2).mean(dim=1)  # [N,H,W]
        mask_map = mask.unflatten(
            1, (inputs.shape[2] // p, inputs.shape[3] // p))  # [N, h, w]
        pixel_mask = mask_map.repeat_interleave(p, 1).repeat_interleave(p, 2)
        masked_mse = (error * pixel_mask).sum(dim=(1, 2)) / pixel_mask.sum(
            dim=(1, 2)).clamp(min=1)
        masked_loss = (self.head.patch_loss(pred, inputs) * mask).sum(
            dim=1) / mask.sum(dim=1).clamp(min=1)  # [N]

        if data_samples is None:
            data_samples = [DataSample() for _ in range(n)]
        for i, sample in enumerate(data_samples):
            sample.set_field(recon[i], 'reconstruction', field_type='data')
            sample.set_field(mask_map[i], 'mask', field_type='data')
            sample.set_field(
                masked_mse[i], 'masked_mse', field_type='metainfo')
            sample.set_field(
                masked_loss[i], 'masked_loss', field_type='metainfo')
        return data_samples
