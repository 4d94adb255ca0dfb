"""The MAE encoder: a ViT that runs on the visible patches only."""
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.model import ModuleList
from mmpretrain.models import VisionTransformer
from torch import nn

from mae_plugin.registry import MODELS, build_model
from mae_plugin.utils import (check_bool, check_choice, check_img_size,
                              check_int, check_number, check_positive_int)
from ..masking import BaseMasking
from ..utils import (DEFAULT_NORM_CFG, TransformerBlock, check_divisible,
                     check_image_dtype, check_sincos_dims, init_mae_weights,
                     init_patch_projection, is_pretrained_init,
                     norm_cfg_over_default, regenerate_sincos_on_load,
                     run_block, sincos_2d)


#: The encoder sizes an ``arch`` name stands for: mmpretrain's
#: ``VisionTransformer`` table itself, so that a name builds the same
#: encoder on both sides of a transfer (its ``'small'`` is 768x8, 8 heads;
#: the 384x12 ViT-S is ``'deit-small'``).
ARCH_ZOO = VisionTransformer.arch_zoo
#: The keys an ``arch`` dict must have.
ARCH_KEYS = ('embed_dims', 'feedforward_channels', 'num_heads', 'num_layers')


def arch_settings(arch: Union[str, dict]) -> dict:
    """The settings of an ``arch`` name of :data:`ARCH_ZOO`, or the
    ``arch`` dict itself once it has every key a name gives.

    Raises:
        ValueError: An unknown name.
        KeyError: A dict without some of the keys.
    """
    if isinstance(arch, str):
        return ARCH_ZOO[check_choice('arch', arch.lower(), sorted(ARCH_ZOO))]
    missing = sorted(set(ARCH_KEYS) - set(arch))
    if missing:
        raise KeyError(f'arch must be a name or a dict with '
                       f'{list(ARCH_KEYS)}, got one without {missing}')
    for key in ARCH_KEYS:
        check_positive_int(f'arch {key}', arch[key])
    if arch['embed_dims'] % arch['num_heads']:
        raise ValueError(f"arch embed_dims ({arch['embed_dims']}) must be a "
                         f"multiple of arch num_heads ({arch['num_heads']})")
    return arch


def check_block_args(drop_rate: Any, drop_path_rate: Any,
                     qkv_bias: Any) -> None:
    """Refuse, by name, the block options of a ViT that mmpretrain's
    layers take silently or refuse without naming them: a dropout or
    stochastic-depth rate outside [0, 1) (``drop_path_rate=1.5`` trained
    with blocks scaled by 2 or -0, 1 made the last block's output NaN;
    ``drop_rate=1.5`` failed with torch's "dropout probability has to be
    between 0 and 1"), or a ``qkv_bias`` that is not a bool.

    Raises:
        TypeError: A rate is not a number, or ``qkv_bias`` not a bool.
        ValueError: A rate is outside [0, 1).
    """
    for name, rate in (('drop_rate', drop_rate), ('drop_path_rate',
                                                  drop_path_rate)):
        check_number(name, rate, 0, 1, high_open=True)
    check_bool('qkv_bias', qkv_bias)


def _check_vit_kwargs(num_layers: int,
                      drop_rate: Any = 0.,
                      drop_path_rate: Any = 0.,
                      qkv_bias: Any = True,
                      final_norm: Any = True,
                      pre_norm: Any = False,
                      frozen_stages: Any = -1,
                      layer_scale_init_value: Any = 0.,
                      **others) -> None:
    """Refuse, by name, the arguments :class:`MAEViT` passes on to
    :class:`mmpretrain.models.VisionTransformer` (its defaults for those
    not given) that it takes silently (``final_norm='abc'``,
    ``layer_scale_init_value=-1``: no layer scale) or fails on without
    naming them (``frozen_stages=99``: "index 2 is out of range"); see
    also :func:`check_block_args`.

    Raises:
        TypeError: A value of the wrong type, or ``mask_ratio`` (mmpretrain's
            ``MAEViT`` argument, which is the masking generator's here).
        ValueError: ``frozen_stages`` outside [-1, ``num_layers``],
            ``layer_scale_init_value`` below 0 or NaN, or a rate of
            :func:`check_block_args`.
    """
    if 'mask_ratio' in others:
        raise TypeError(
            "MAEViT takes no mask_ratio (mmpretrain's MAEViT does): the "
            'ratio is the masking generator\'s, masking=dict(type='
            f"'RandomMasking', mask_ratio={others['mask_ratio']!r}) "
            '(--cfg-options model.backbone.masking.mask_ratio=...)')
    check_block_args(drop_rate, drop_path_rate, qkv_bias)
    check_bool('final_norm', final_norm)
    check_bool('pre_norm', pre_norm)
    check_int('frozen_stages', frozen_stages, minimum=-1, maximum=num_layers)
    check_number('layer_scale_init_value', layer_scale_init_value, 0)


@MODELS.register_module()
class MAEViT(VisionTransformer):
    """Vision Transformer encoder of MAE.

    Built on :class:`mmpretrain.models.VisionTransformer`, so its state dict
    has the same keys and a pretrained ``backbone.*`` loads straight into
    mmpretrain's ViT. Compared to it:

    * the position embedding is the fixed 2D sin-cos one (all-zero class
      row), not trained, and regenerated for any other input grid;
    * ``forward(x)`` adds positions, masks each sample with the masking
      generator and runs the class token plus the **visible patches only**
      through the blocks and the final norm;
    * ``forward(x, mask=False)`` is a plain ViT over all tokens whose output
      follows ``out_type``/``out_indices`` (features, fine-tuning);
    * weights are initialised as in the MAE paper's code.

    Args:
        arch (str | dict): A name of mmpretrain's ViT table
            (:data:`ARCH_ZOO`): the paper's ``'base'`` (768x12, 12 heads),
            ``'large'`` (1024x24, 16), ``'huge'`` (1280x32, 16), their first
            letters, ``'deit-small'`` (384x12, 6), ``'deit-tiny'`` (192x12,
            3) ..., or a dict with ``embed_dims`` (a multiple of 4, for
            the sin-cos positions), ``num_layers``, ``num_heads`` and
            ``feedforward_channels``. Defaults to ``'base'``.
        img_size (int | tuple): Training image size ``(H, W)``; each side a
            multiple of ``patch_size``. Defaults to 224.
        patch_size (int): Patch side. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        masking (dict): Config of the masking generator. Defaults to
            ``dict(type='RandomMasking', mask_ratio=0.75)``.
        mask_token_in_encoder (bool): Replace every removed patch by a
            shared learnable mask token (plus its position) and run the
            encoder on all ``L`` tokens, the "encoder w/ [M]" ablation of
            the paper's Table 1; the decoder then adds no mask tokens of
            its own. Defaults to False (the encoder sees the visible patches
            only).
        out_type (str): Output of the unmasked forward, see
            :class:`mmpretrain.models.VisionTransformer`. Defaults to
            ``'raw'``.
        with_cp (bool): Recompute each block in the backward pass instead
            of keeping its activations (activation checkpointing): less
            memory for a larger batch or model, about one more forward pass
            of the blocks in time. Defaults to False.
        **kwargs: Other arguments of
            :class:`mmpretrain.models.VisionTransformer` (``out_indices``,
            ``drop_path_rate``, ``norm_cfg``, ``init_cfg`` ...); its rates
            ``drop_rate`` and ``drop_path_rate`` must be in [0, 1),
            ``qkv_bias``, ``final_norm`` and ``pre_norm`` bools,
            ``frozen_stages`` an int in [-1, ``num_layers``],
            ``layer_scale_init_value`` a number >= 0, and a ``norm_cfg``
            without ``type`` (``dict(eps=1e-5)``) sets its keys over the
            default ``dict(type='LN', eps=1e-6)``.
    """
    arch_zoo = ARCH_ZOO

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 masking: dict = dict(type='RandomMasking', mask_ratio=0.75),
                 mask_token_in_encoder: bool = False,
                 out_type: str = 'raw',
                 with_cp: bool = False,
                 **kwargs) -> None:
        settings = arch_settings(arch)
        check_sincos_dims('arch embed_dims', settings['embed_dims'])
        _check_vit_kwargs(settings['num_layers'], **kwargs)
        kwargs['norm_cfg'] = norm_cfg_over_default(
            kwargs.get('norm_cfg', DEFAULT_NORM_CFG))
        check_positive_int('patch_size', patch_size)
        check_positive_int('in_channels', in_channels)
        img_size = check_img_size(img_size)
        check_divisible(*img_size, patch_size, name='img_size')
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            in_channels=in_channels,
            out_type=out_type,
            with_cls_token=True,
            **kwargs)
        # Same weights and random-number stream as mmpretrain's blocks.
        built = self.layers
        with torch.random.fork_rng(devices=[]):
            self.layers = self._build_blocks(**kwargs)
        self.layers.load_state_dict(built.state_dict())
        if self.frozen_stages > 0:
            self._freeze_stages()
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.masking = build_model(masking)
        if not isinstance(self.masking, BaseMasking):
            raise TypeError(
                'masking must be the config of a masking generator, such as '
                f"dict(type='RandomMasking'), got {masking!r}")
        self.masking.check_grid(self.patch_resolution)
        self.mask_token_in_encoder = check_bool('mask_token_in_encoder',
                                                mask_token_in_encoder)
        self.with_cp = check_bool('with_cp', with_cp)
        if mask_token_in_encoder:
            self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        # Fixed sin-cos positions: a parameter (same key as mmpretrain's
        # ViT) that is never trained.
        self.pos_embed.requires_grad = False
        self.pos_embed.data.copy_(
            sincos_2d(self.patch_resolution, self.embed_dims))
        # Whether the embedding is mmpretrain's layout (a checkpoint of
        # mmpretrain's MAE), which other grids then get too.
        self.sincos_transposed = False

    def _build_blocks(self,
                      drop_rate: float = 0.,
                      drop_path_rate: float = 0.,
                      qkv_bias: bool = True,
                      norm_cfg: dict = DEFAULT_NORM_CFG,
                      layer_scale_init_value: float = 0.,
                      layer_cfgs: Union[dict, Sequence[dict]] = dict(),
                      **_) -> ModuleList:
        """The encoder blocks, configured as
        :class:`mmpretrain.models.VisionTransformer` configures its own
        (same defaults, stochastic depth rising linearly to
        ``drop_path_rate``, ``layer_cfgs`` per block), as
        :class:`TransformerBlock` with :class:`UnbindQKVAttention`.

        mmpretrain's constructor builds its block class without a way to
        choose the attention; these blocks replace those, with the same
        keys and shapes.
        """
        if isinstance(layer_cfgs, dict):
            layer_cfgs = [layer_cfgs] * self.num_layers
        # Python floats: a NumPy scalar rate breaks torch.compile's graph at
        # every drop path (dynamo reads it as an array to branch on).
        rates = np.linspace(0, drop_path_rate, self.num_layers).tolist()
        return ModuleList(
            TransformerBlock(
                **{
                    **dict(
                        embed_dims=self.embed_dims,
                        num_heads=self.arch_settings['num_heads'],
                        feedforward_channels=self.arch_settings['feedforward_channels'],
                        layer_scale_init_value=layer_scale_init_value,
                        drop_rate=drop_rate,
                        drop_path_rate=rate,
                        qkv_bias=qkv_bias,
                        norm_cfg=norm_cfg),
                    **cfg
                }) for rate, cfg in zip(rates, layer_cfgs))

    def init_weights(self) -> None:
        """Initialise as the MAE paper's code, unless loading weights."""
        if is_pretrained_init(self.init_cfg):
            # Load only: mmpretrain's ViT would then draw ``pos_embed`` at
            # random over the loaded one when ``init_cfg`` is a list.
            super(VisionTransformer, self).init_weights()
            return
        super().init_weights()
        self.pos_embed.data.copy_(
            sincos_2d(self.patch_resolution, self.embed_dims))
        self.sincos_transposed = False
        init_mae_weights(self)
        init_patch_projection(self.patch_embed.projection)
        nn.init.normal_(self.cls_token, std=.02)
        if self.mask_token_in_encoder:
            nn.init.normal_(self.mask_token, std=.02)

    def _prepare_pos_embed(self, state_dict: dict, prefix: str, *args,
                           **kwargs) -> None:
        """Load-state-dict pre-hook (registered by mmpretrain's ViT): a
        stored ``pos_embed`` of another grid is regenerated as sin-cos for
        this model's grid instead of interpolated, in its layout."""
        self.sincos_transposed = regenerate_sincos_on_load(
            state_dict, prefix + 'pos_embed', self.pos_embed,
            self.patch_resolution, self.sincos_transposed)

    def position_embedding(self, grid_size: Tuple[int, int]) -> torch.Tensor:
        """``[1, 1 + h*w, D]`` positions for a ``(h, w)`` patch grid: the
        stored ones for the training grid, regenerated (in their layout)
        for any other."""
        if tuple(grid_size) == tuple(self.patch_resolution):
            return self.pos_embed
        return sincos_2d(
            grid_size, self.embed_dims,
            transposed=self.sincos_transposed).to(self.pos_embed)

    def embed_patches(self,
                      x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch-embed images and add positions (class row excluded).

        Args:
            x (Tensor): ``[N, C, H, W]``, floating point.

        Returns:
            tuple: tokens ``[N, L, D]`` and the grid ``(h, w)``.

        Raises:
            ValueError: ``x`` is not ``[N, C, H, W]`` with the backbone's
                ``C``, or ``H`` or ``W`` is no multiple of the patch.
            TypeError: ``x`` is not floating point (raw ``uint8``
                pixels), or of another dtype than the weights outside
                ``torch.autocast``.
        """
        self.check_images(x)
        x, grid_size = self.patch_embed(x)  # [N, L, D]
        return x + self.position_embedding(grid_size)[:, 1:], grid_size

    def check_images(self, x: torch.Tensor) -> None:
        """Check that ``x`` is a batch of images ``[N, C, H, W]`` the patch
        projection takes.

        Raises:
            ValueError, TypeError: As :meth:`embed_patches`.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            grey = (x.dim() == 4 and self.in_channels == 1
                    and x.shape[1] == 3)
            raise ValueError(
                f'expected images [N, {self.in_channels}, H, W] for '
                f'in_channels={self.in_channels}, got {tuple(x.shape)}' +
                ("; load grey images (color_type='grayscale' in the "
                 "pipeline's loading step)" if grey else ''))
        check_divisible(x.shape[2], x.shape[3], self.patch_size)
        check_image_dtype(x, self.patch_embed.projection.weight.dtype)

    def class_token(self, batch_size: int) -> torch.Tensor:
        """Class token plus its (zero) position, ``[N, 1, D]``."""
        return (self.cls_token + self.pos_embed[:, :1]).expand(
            batch_size, -1, -1)

    def append_mask_tokens(self, visible: torch.Tensor,
                           ids_restore: torch.Tensor,
                           grid_size: Tuple[int, int]) -> torch.Tensor:
        """Append one positioned mask token per removed patch.

        Args:
            visible (Tensor): ``[N, L_keep, D]`` visible tokens, positions
                added.
            ids_restore (Tensor): ``[N, L]`` from the masking.
            grid_size (tuple[int, int]): Patch grid ``(h, w)``.

        Returns:
            Tensor: ``[N, L, D]`` in the shuffled order ``[visible,
            removed]`` that ``ids_restore`` un-shuffles.
        """
        ids_removed = torch.argsort(
            ids_restore, dim=1)[:, visible.shape[1]:]  # [N, L - L_keep]
        positions = self.position_embedding(grid_size)[:, 1:].expand(
            visible.shape[0], -1, -1)  # [N, L, D]
        positions = torch.gather(
            positions, 1,
            ids_removed.unsqueeze(-1).expand(-1, -1, visible.shape[-1]))
        return torch.cat([visible, self.mask_token + positions], dim=1)

    def forward(self,
                x: torch.Tensor,
                mask: bool = True,
                noise: Optional[torch.Tensor] = None,
                generator: Union[torch.Generator, Sequence[torch.Generator],
                                 None] = None):
        """Encode images.

        Args:
            x (Tensor): ``[N, C, H, W]``, H and W multiples of the patch,
                floating point as the data preprocessor makes them, in the
                weights' dtype (any floating dtype but float64 under
                ``torch.autocast``).
            mask (bool): Mask and encode visible patches (pretraining);
                False runs a plain ViT over all tokens. Defaults to True.
            noise (Tensor, optional): ``[N, L]`` masking noise, for a
                reproduced mask. Defaults to None.
            generator (torch.Generator | Sequence[torch.Generator],
                optional): RNG for the masks, or one per image. Defaults to
                None (global RNG).

        Returns:
            With ``mask=True``, a tuple ``(latent [N, 1+L_keep, D]
            (``[N, 1+L, D]`` in the shuffled order with
            ``mask_token_in_encoder``),
            mask [N, L] with 1 = removed, ids_restore [N, L])``. With
            ``mask=False``, the tuple of ``out_indices`` features formatted
            by ``out_type``.

        Raises:
            ValueError, TypeError: ``x`` is not a batch of images the
                encoder takes (see :meth:`embed_patches`), before any
                work.
        """
        n = x.shape[0]
        x, grid_size = self.embed_patches(x)  # [N, L, D]
        if not mask:
            x = torch.cat([self.class_token(n), x], dim=1)  # [N, 1+L, D]
            x = self.pre_norm(self.drop_after_pos(x))
            outs = []
            for i, layer in enumerate(self.layers):
                x = run_block(layer, x, self.with_cp)
                if i == len(self.layers) - 1 and self.final_norm:
                    x = self.ln1(x)
                if i in self.out_indices:
                    outs.append(self._format_output(x, grid_size))
            return tuple(outs)

        ids_keep, mask, ids_restore = self.masking(
            n, grid_size, x.device, generator=generator, noise=noise)
        x = torch.gather(x, 1,
                         ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        if self.mask_token_in_encoder:
            x = self.append_mask_tokens(x, ids_restore, grid_size)  # [N,L,D]
        # [N, 1+L_keep, D], or [N, 1+L, D] with the mask tokens
        x = torch.cat([self.class_token(n), x], dim=1)
        # identities unless drop_rate > 0 or pre_norm, as on all tokens
        x = self.pre_norm(self.drop_after_pos(x))
        for layer in self.layers:
            x = run_block(layer, x, self.with_cp)
        if self.final_norm:
            x = self.ln1(x)
        return x, mask, ids_restore
