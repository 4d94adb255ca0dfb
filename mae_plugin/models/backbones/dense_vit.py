"""The MAE encoder as a plain-ViT backbone for detection and segmentation.

The ViTDet recipe (Li et al., "Exploring Plain Vision Transformer Backbones
for Object Detection", 2022): no masking, no class token, the pretrained
absolute positions interpolated to the input's patch grid, windowed
self-attention in most blocks and global attention in a few, optional
decomposed relative position bias, and feature maps ``[N, D, h, w]`` out.

Optionally the blocks of BEiT's segmentation code, which the MAE paper's
ADE20K setup follows (and mmseg's ``MAE`` backbone): global attention over
the class token and the patches, a relative position bias table per block
and layer scale.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.utils import build_norm_layer, resize_pos_embed
from torch import nn

from mae_plugin.registry import MODELS, SCOPE, WEIGHT_INITIALIZERS
from mae_plugin.utils import (check_bool, check_choice, check_img_size,
                              check_int, check_number, check_positive_int)
from ..utils import (DEFAULT_NORM_CFG, check_divisible, check_image_dtype,
                     init_mae_weights, init_patch_projection,
                     is_pretrained_init, norm_cfg_over_default,
                     pretrained_entries, run_block, sincos_2d)
from .dense_vit_blocks import RelPosBiasBlock, WindowedBlock
from .linear_probe_vit import frozen_stages_of
from .mae_vit import arch_settings, check_block_args


# Weights of DenseViT's blocks that MAE's blocks lack: decomposed relative
# positions (ViTDet), BEiT's bias tables with their indices, layer scales.
_ADDED_TO_BLOCKS = ('.rel_pos_h', '.rel_pos_w',
                    '.relative_position_bias_table',
                    '.relative_position_index', '.gamma_1', '.gamma_2')


def _check_indices(name: str, indices: Sequence[int], num_layers: int):
    """Normalise block indices (negative ones count from the end)."""
    result = []
    for index in indices:
        if not isinstance(index, int) or not -num_layers <= index < num_layers:
            raise ValueError(f'{name} must hold block indices in '
                             f'[-{num_layers}, {num_layers}), got {index!r}')
        result.append(index % num_layers)
    return result


def _check_block_options(patch_size: int, window_size: int, use_rel_pos: bool,
                         use_rel_pos_bias: bool,
                         layer_scale_init_value: float) -> None:
    """Refuse values and combinations of DenseViT's options that have no
    meaning, naming the option."""
    check_positive_int('patch_size', patch_size)
    check_int('window_size', window_size, minimum=0)
    check_bool('use_rel_pos', use_rel_pos)
    check_bool('use_rel_pos_bias', use_rel_pos_bias)
    if use_rel_pos_bias and (window_size or use_rel_pos):
        raise ValueError(
            'use_rel_pos_bias (BEiT tables over the class token and the '
            'whole grid) needs window_size=0 and use_rel_pos=False, got '
            f'window_size={window_size}, use_rel_pos={use_rel_pos}')
    if check_number('layer_scale_init_value', layer_scale_init_value,
                    0) and not use_rel_pos_bias:
        raise ValueError(
            'layer_scale_init_value must be 0 without use_rel_pos_bias, '
            f'got {layer_scale_init_value!r}')


def _grid(name: str, img_size: Union[int, Tuple[int, int]],
          patch_size: int) -> Tuple[int, int]:
    """The patch grid ``(h, w)`` of an image size whose sides are
    multiples of ``patch_size``, the error naming ``name`` otherwise."""
    h, w = check_img_size(img_size, name)
    check_divisible(h, w, patch_size, name)
    return h // patch_size, w // patch_size


@MODELS.register_module()
class DenseViT(BaseModule):
    """Plain ViT backbone for dense prediction, initialised from MAE.

    Its state-dict keys are those of :class:`MAEViT` (and of
    :class:`mmpretrain.models.VisionTransformer`): ``patch_embed.*``,
    ``pos_embed``, ``layers.{i}.*`` and, with ``final_norm``, ``ln1.*``. A
    pretraining checkpoint's ``backbone.*`` therefore loads as is through
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``;
    the number of loaded keys is logged and a checkpoint that lacks a key an
    MAE encoder holds (:meth:`keys_beyond_encoder` lists those it may lack)
    raises ``ValueError``. The class token joins the patches only with
    ``use_rel_pos_bias`` (BEiT's blocks, as mmseg's ``MAE``).

    Args:
        arch (str | dict): Encoder size, as :class:`MAEViT`'s ``arch``.
            Defaults to ``'base'``.
        img_size (int | tuple): Typical input ``(H, W)``; sets the size of
            the relative position tables of global blocks. Defaults to 224.
        pretrain_img_size (int | tuple): The position embedding is held
            for this size's patch grid: a checkpoint's of another grid is
            resized to it once, at load, and it is interpolated to each
            input's grid. The pretraining size keeps the checkpoint's table
            (ViTDet); the input size trains a table of the input's grid
            (BEiT's and mmseg's segmentation). Defaults to 224.
        patch_size (int): Patch side. Defaults to 16.
        pretrain_patch_size (int, optional): Patch side of the checkpoint's
            patch projection when it is not ``patch_size``: its kernels are
            resized bicubically to ``patch_size`` at load, as ViTDet's ViT-H
            (pretrained with 14, detecting with 16). None: the checkpoint's
            kernels must be ``patch_size`` wide. Defaults to None.
        in_channels (int): Image channels. Defaults to 3.
        out_indices (Sequence[int]): Blocks whose outputs are returned as
            feature maps. Defaults to ``(-1,)``.
        drop_rate (float): Dropout after the position embedding and in the
            MLPs, in [0, 1). Defaults to 0.
        drop_path_rate (float): Stochastic depth of the last block, rising
            linearly from 0 at the first, in [0, 1). Defaults to 0.
        qkv_bias (bool): Bias in the qkv projection. Defaults to True.
        norm_cfg (dict): Norm layer of the blocks; one without ``type``
            (``dict(eps=1e-5)``) sets its keys over the default. Defaults
            to ``dict(type='LN', eps=1e-6)``.
        final_norm (bool): Normalise the last block's output (the
            checkpoint's ``ln1``). Defaults to False, as ViTDet.
        window_size (int): Window side (in patches) of windowed attention;
            0 makes every block global. Defaults to 0.
        global_attn_indexes (Sequence[int]): Blocks with global attention
            when ``window_size > 0`` (ViT-B in ViTDet: 2, 5, 8, 11).
            Defaults to ``()``.
        use_rel_pos (bool): Add decomposed relative position bias to the
            attention (zero-initialised, not in MAE checkpoints). Defaults to
            False.
        use_rel_pos_bias (bool): BEiT's blocks (:class:`RelPosBiasBlock`):
            the class token joins the patches (with its row of the position
            embedding), and each block adds a relative position bias table
            for the ``img_size`` grid, zero-initialised; inputs must have
            that grid. Needs ``window_size=0`` and ``use_rel_pos=False``.
            Defaults to False.
        layer_scale_init_value (float): With ``use_rel_pos_bias``, learnable
            per-channel scales of both residual branches started at this
            value (mmseg's ``init_values``; its ADE20K MAE config: 1.0); 0
            for none. Defaults to 0.
        with_cp (bool): Recompute each block in the backward pass
            (activation checkpointing) to save memory. Defaults to False.
        frozen_stages (int | str): Freeze (no gradients, eval mode: no
            dropout or drop path) the embeddings (patch projection,
            position embedding, class token) and the first
            ``frozen_stages`` blocks, the final norm too when every block
            is frozen; ``'all'`` freezes every block, 0 the embeddings only,
            -1 nothing. An int in [-1, depth] or ``'all'``. Defaults to -1.
        interpolate_mode (str): Resizing of the position embedding.
            Defaults to ``'bicubic'``.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')`` loads an encoder (``prefix`` defaults to
            ``'backbone.'``; ``''`` takes a bare encoder state dict);
            otherwise the MAE code's initialisation with sin-cos positions.
            Keys the checkpoint may lack (relative position tables and
            indices, layer scales, the final norm) keep the initialisation
            and are logged; a missing key of any other kind (a block of a
            deeper model included) is an error. Defaults to None.
    """

    # Where the encoder's keys sit in a pretraining checkpoint: the
    # ``prefix`` an ``init_cfg`` may leave out (PretrainedKeysHook reads it).
    default_pretrained_prefix = 'backbone.'

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 pretrain_img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 pretrain_patch_size: Optional[int] = None,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (-1, ),
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = DEFAULT_NORM_CFG,
                 final_norm: bool = False,
                 window_size: int = 0,
                 global_attn_indexes: Sequence[int] = (),
                 use_rel_pos: bool = False,
                 use_rel_pos_bias: bool = False,
                 layer_scale_init_value: float = 0.,
                 with_cp: bool = False,
                 frozen_stages: Union[int, str] = -1,
                 interpolate_mode: str = 'bicubic',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        arch = arch_settings(arch)
        _check_block_options(patch_size, window_size, use_rel_pos,
                             use_rel_pos_bias, layer_scale_init_value)
        check_block_args(drop_rate, drop_path_rate, qkv_bias)
        norm_cfg = norm_cfg_over_default(norm_cfg)
        self.embed_dims = arch['embed_dims']
        self.num_layers = arch['num_layers']
        self.patch_size = patch_size
        self.pretrain_patch_size = (
            patch_size if pretrain_patch_size is None else check_positive_int(
                'pretrain_patch_size', pretrain_patch_size))
        self.out_indices = _check_indices('out_indices', out_indices,
                                          self.num_layers)
        global_attn_indexes = _check_indices('global_attn_indexes',
                                             global_attn_indexes,
                                             self.num_layers)
        self.final_norm = check_bool('final_norm', final_norm)
        self.with_cp = check_bool('with_cp', with_cp)
        # align_corners=False in mmpretrain's resize_pos_embed: these only
        self.interpolate_mode = check_choice('interpolate_mode',
                                             interpolate_mode,
                                             ('bilinear', 'bicubic'))
        check_positive_int('in_channels', in_channels)
        self.pretrain_grid = _grid('pretrain_img_size', pretrain_img_size,
                                   patch_size)
        self.grid = _grid('img_size', img_size, patch_size)

        self._build_embeddings(in_channels, drop_rate, use_rel_pos_bias)

        self.layers = self._build_layers(
            dict(
                embed_dims=self.embed_dims,
                num_heads=arch['num_heads'],
                feedforward_channels=arch['feedforward_channels'],
                drop_rate=drop_rate,
                norm_cfg=norm_cfg,
                qkv_bias=qkv_bias), drop_path_rate, window_size,
            global_attn_indexes, use_rel_pos, use_rel_pos_bias,
            layer_scale_init_value)
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, self.embed_dims)
        self.frozen_stages = frozen_stages_of(frozen_stages, self.num_layers)
        for part in self._frozen_parts():
            part.requires_grad_(False)
        self.train()

    def _frozen_parts(self) -> List[Union[nn.Module, nn.Parameter]]:
        """The modules and parameters ``frozen_stages`` freezes."""
        if self.frozen_stages < 0:
            return []
        parts = [self.patch_embed, self.pos_embed, self.drop_after_pos]
        if self.cls_token is not None:
            parts.append(self.cls_token)
        parts += self.layers[:self.frozen_stages]
        if self.frozen_stages == self.num_layers and self.final_norm:
            parts.append(self.ln1)
        return parts

    def train(self, mode: bool = True) -> 'DenseViT':
        """Set the training mode, but keep the frozen modules
        (``frozen_stages``) in eval mode: no dropout or drop path."""
        super().train(mode)
        for part in self._frozen_parts():
            if isinstance(part, nn.Module):
                part.eval()
        return self

    def _build_embeddings(self, in_channels: int, drop_rate: float,
                          with_cls_token: bool) -> None:
        """Patch projection, position embedding (for the pretraining
        grid), the class token of BEiT's blocks and the dropout after
        positions."""
        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            embed_dims=self.embed_dims,
            conv_type='Conv2d',
            kernel_size=self.patch_size,
            stride=self.patch_size)
        # Class row kept, as in the checkpoint; the class token itself is
        # used by BEiT's blocks only.
        self.pos_embed = nn.Parameter(
            sincos_2d(self.pretrain_grid, self.embed_dims))  # [1, 1+L, D]
        self.cls_token = (
            nn.Parameter(torch.zeros(1, 1, self.embed_dims))
            if with_cls_token else None)
        self.drop_after_pos = nn.Dropout(p=drop_rate)

    def _build_layers(self, common: dict, drop_path_rate: float,
                      window_size: int, global_attn_indexes: Sequence[int],
                      use_rel_pos: bool, use_rel_pos_bias: bool,
                      layer_scale_init_value: float) -> ModuleList:
        """The blocks: BEiT's with ``use_rel_pos_bias``, else ViTDet's
        windowed or global ones; stochastic depth rising linearly to
        ``drop_path_rate``. ``common`` holds the arguments of both."""
        layers = ModuleList()
        rates = torch.linspace(0, drop_path_rate, self.num_layers)
        for i, rate in enumerate(rates.tolist()):
            if use_rel_pos_bias:
                layers.append(
                    RelPosBiasBlock(
                        self.grid,
                        layer_scale_init_value,
                        drop_path_rate=rate,
                        **common))
            else:
                layers.append(
                    WindowedBlock(
                        drop_path_rate=rate,
                        use_rel_pos=use_rel_pos,
                        window_size=(0 if i in global_attn_indexes else
                                     window_size),
                        input_size=self.grid,
                        **common))
        return layers

    def init_weights(self) -> None:
        """Initialise as the MAE paper's code, then load the pretrained
        encoder of ``init_cfg`` over it (keys the checkpoint lacks keep
        that initialisation; relative position tables stay zero, layer
        scales at ``layer_scale_init_value``).

        The encoder is loaded by the ``PretrainedEncoder`` weight
        initializer, built by name from the plugin's registry (the
        checkpoint layer registers it, this layer does not import it): it
        logs the loaded key count and raises when a key the checkpoint
        should hold (any but :meth:`keys_beyond_encoder`) is not there or a
        key has another shape.
        """
        init_mae_weights(self)
        init_patch_projection(self.patch_embed.projection)
        self.pos_embed.data.copy_(
            sincos_2d(self.pretrain_grid, self.embed_dims))
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=.02)
        for layer in self.layers:
            if isinstance(layer, RelPosBiasBlock):
                layer.init_weights()
        if is_pretrained_init(self.init_cfg):
            pretrained = next(iter(pretrained_entries(self.init_cfg).values()))
            if 'checkpoint' not in pretrained:
                raise KeyError("init_cfg of type 'Pretrained' needs a "
                               "'checkpoint'")
            load_encoder = WEIGHT_INITIALIZERS.build(
                dict(
                    type='PretrainedEncoder',
                    _scope_=SCOPE,
                    checkpoint=pretrained['checkpoint'],
                    prefix=pretrained.get('prefix',
                                          self.default_pretrained_prefix),
                    adapt=self.adapt_pretrained,
                    optional_keys=self.keys_beyond_encoder()))
            load_encoder(self)
        self._is_init = True

    def adapt_pretrained(
            self, state_dict: Dict[str,
                                   torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Fit a checkpoint's encoder to this backbone: its ``pos_embed``
        (class row plus a square grid) resized to ``pretrain_img_size``'s
        grid, and its patch projection's ``pretrain_patch_size`` kernels
        resized bicubically to ``patch_size`` (ViTDet's ViT-H, 14 to 16).

        Raises:
            ValueError: ``pos_embed`` is no class row plus a square grid,
                or the kernels are not ``pretrain_patch_size`` wide.
        """
        state_dict = dict(state_dict)
        pos_embed = state_dict.get('pos_embed')
        if pos_embed is not None and pos_embed.shape != self.pos_embed.shape:
            side = math.isqrt(pos_embed.shape[1] - 1)
            if pos_embed.dim() != 3 or side * side != pos_embed.shape[1] - 1:
                raise ValueError(
                    f'pos_embed {tuple(pos_embed.shape)} is not a class row '
                    'plus a square grid; set pretrain_img_size to the '
                    'pretraining input size')
            state_dict['pos_embed'] = resize_pos_embed(
                pos_embed, (side, side), self.pretrain_grid,
                self.interpolate_mode, 1)
        key = 'patch_embed.projection.weight'
        if key in state_dict:
            state_dict[key] = self._resized_kernels(state_dict[key])
        return state_dict

    def _resized_kernels(self, kernels: torch.Tensor) -> torch.Tensor:
        """A checkpoint's ``[D, C, k, k]`` patch projection with
        ``k = pretrain_patch_size``, resized to ``[D, C, p, p]`` with
        ``p = patch_size`` by bicubic interpolation of each kernel (the
        ViTDet authors' 14-to-16 conversion for ViT-H). Kernels of another
        size and another width ``D`` are refused naming the arch: resizing
        would not make them fit."""
        stored = tuple(kernels.shape[-2:])
        expected = (self.pretrain_patch_size, ) * 2
        if stored != expected:
            if kernels.shape[0] != self.embed_dims:
                raise ValueError(
                    'patch_embed.projection.weight holds kernels of '
                    f'{kernels.shape[0]} channels and the arch of DenseViT '
                    f'gives {self.embed_dims}: give it the arch of the '
                    'pretrained encoder')
            side = 'x'.join(map(str, stored))
            if self.pretrain_patch_size != self.patch_size:
                raise ValueError(
                    f'patch_embed.projection.weight holds {side} kernels '
                    f'and pretrain_patch_size is {self.pretrain_patch_size}'
                    '; set it to the patch size the encoder was pretrained '
                    'with')
            raise ValueError(
                f'patch_embed.projection.weight holds {side} kernels and '
                f'patch_size is {self.patch_size}; to resize them (as '
                "ViTDet's ViT-H, pretrained with 14-pixel patches, detects "
                'with 16), set pretrain_patch_size to the pretraining patch '
                'size')
        if stored == (self.patch_size, ) * 2:
            return kernels
        resized = nn.functional.interpolate(
            kernels.float(),
            size=(self.patch_size, self.patch_size),
            mode='bicubic',
            align_corners=False)
        return resized.to(kernels.dtype)

    def keys_beyond_encoder(self) -> List[str]:
        """The keys of this backbone that an MAE encoder checkpoint need
        not hold: relative position tables and their indices, layer scales
        and the final norm. Every block is needed: a checkpoint of fewer
        blocks (another arch) is refused, not loaded in part."""
        return [
            key for key in self.state_dict()
            if key.endswith(_ADDED_TO_BLOCKS) or key.startswith('ln1.')
        ]

    def get_layer_depth(self,
                        param_name: str,
                        prefix: str = '') -> Tuple[int, int]:
        """Depth of a parameter for layer-wise lr decay, as
        :meth:`mmpretrain.models.VisionTransformer.get_layer_depth`: 0 for
        the embeddings, ``i + 1`` for block ``i``, ``num_layers + 1`` for
        anything after the blocks (final norm, neck, heads).

        Returns:
            tuple[int, int]: The depth and the number of depths
            (``num_layers + 2``).
        """
        num_depths = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_depths - 1, num_depths
        name = param_name[len(prefix):]
        if name in ('pos_embed',
                    'cls_token') or name.startswith('patch_embed.'):
            return 0, num_depths
        if name.startswith('layers.'):
            return int(name.split('.')[1]) + 1, num_depths
        return num_depths - 1, num_depths

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Encode images.

        Args:
            x (Tensor): ``[N, C, H, W]``; sides that are not multiples of
                the patch are padded. Floating point, in the weights' dtype
                (any floating dtype but float64 under ``torch.autocast``).

        Returns:
            tuple[Tensor]: One ``[N, D, ceil(H/p), ceil(W/p)]`` map per
            ``out_indices``.

        Raises:
            TypeError: ``x`` is not floating point (raw ``uint8`` pixels),
                or of another dtype than the weights outside
                ``torch.autocast``, as :class:`MAEViT` refuses it.
            ValueError: With ``use_rel_pos_bias``, ``x``'s patch grid is
                not ``img_size``'s, for which the tables were built.
        """
        x, grid_size = self._tokens(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = run_block(layer, x, self.with_cp)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                if self.cls_token is not None:  # patches of [N, 1+h*w, D]
                    x_out = x[:, 1:].unflatten(1, grid_size)
                else:
                    x_out = x  # [N, h, w, D]
                outs.append(x_out.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def _tokens(self, x: torch.Tensor) -> Tuple[torch.Tensor, tuple]:
        """Patch tokens plus positions: ``[N, h, w, D]`` for windowed
        blocks, ``[N, 1 + h*w, D]`` with the class token first for BEiT's
        blocks; and the grid ``(h, w)``."""
        n = x.shape[0]
        check_image_dtype(x, self.patch_embed.projection.weight.dtype)
        x, grid_size = self.patch_embed(x)  # [N, h*w, D]
        pos_embed = resize_pos_embed(self.pos_embed, self.pretrain_grid,
                                     grid_size, self.interpolate_mode, 1)
        x = x + pos_embed[:, 1:]
        if self.cls_token is None:
            x = x.view(n, *grid_size, self.embed_dims)
        else:
            if tuple(grid_size) != self.grid:
                raise ValueError(
                    f'input patch grid {tuple(grid_size)} differs from the '
                    f'{self.grid} of img_size, for which use_rel_pos_bias '
                    'built the relative position tables')
            cls_token = self.cls_token + pos_embed[:, :1]  # [1, 1, D]
            x = torch.cat([cls_token.expand(n, -1, -1), x], dim=1)
        return self.drop_after_pos(x), grid_size
