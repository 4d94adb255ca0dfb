"""ViTDet's simple feature pyramid: multi-scale maps from the last map of a
plain ViT."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import nn

from mae_plugin.registry import MODELS
from mae_plugin.utils import check_positive_int


def _resolve(norm_cfg: dict) -> dict:
    """Resolve the norm type in the plugin's scope and its parents (so
    ``'LN2d'`` and ``'mae_plugin.LN2d'`` work whatever the caller's default
    scope is)."""
    norm_type = norm_cfg['type']
    if isinstance(norm_type, str):
        scope, name = MODELS.split_scope_key(norm_type)
        # A key with our own scope would be searched in our registry only.
        resolved = MODELS.get(name if scope == MODELS.scope else norm_type)
        if resolved is None:
            raise KeyError(f'norm_cfg type {norm_type!r} is not registered')
        norm_cfg = dict(norm_cfg, type=resolved)
    return norm_cfg


#: Resamplings of the backbone's map ViTDet builds a level with.
SCALES = (4., 2., 1., 0.5)


def pyramid_scales(strides: Sequence[int], patch_size: int) -> List[float]:
    """The scale factors of the levels that give ``strides`` (the rest are
    pooled extra levels).

    A level of stride ``s`` resamples the backbone's map (stride
    ``patch_size``) by ``patch_size / s``, one of :data:`SCALES`; the
    levels after the last such one must each double the stride (pooled
    extra levels).

    Args:
        strides (Sequence[int]): Output strides, fine to coarse.
        patch_size (int): The backbone's patch size (its map's stride).

    Returns:
        list[float]: one scale factor per resampled level.

    Raises:
        ValueError: If ``strides`` do not increase, or (naming it) a
            stride neither a scale factor nor pooling gives.
    """
    if not strides or list(strides) != sorted(set(strides)):
        raise ValueError(f'strides must increase, got {tuple(strides)}')
    scales: List[float] = []
    for i, stride in enumerate(strides):
        if len(scales) == i and patch_size / stride in SCALES:
            scales.append(patch_size / stride)
        elif not (scales and stride == 2 * strides[i - 1]):
            raise ValueError(
                f'strides {tuple(strides)}: with patch_size {patch_size} '
                f'stride {stride} is neither patch_size / s for a scale s '
                f'in {SCALES} nor twice the stride before it (pooled)')
    return scales


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Simple feature pyramid of ViTDet (Li et al., 2022).

    From the last feature map of the backbone (stride ``patch_size``), each
    scale factor gives one level: 4 by two stride-2 deconvolutions (norm
    and activation in between), 2 by one, 1 by identity, 0.5 by 2x2 max
    pooling. Every level then goes through a 1x1 and a 3x3 convolution,
    each followed by the norm, to ``out_channels``. Further levels are
    max-pooled (kernel 1, stride 2) from the one before, as ViTDet's extra
    level for the RPN.

    The scale factors follow from the ``strides`` the detector's heads
    expect (its anchor generator's) and the patch size: ViTDet's
    ``(4, 8, 16, 32, 64)`` from patch 16 are scales 4, 2, 1, 0.5 and one
    pooled level; from patch 8 they are 2, 1, 0.5 and two pooled levels.

    Args:
        in_channels (int): Channels ``D`` of the backbone's map.
        patch_size (int): Patch size of the backbone (the stride of its
            map). No default: a pyramid built for another patch size gives
            other strides than the heads expect.
        out_channels (int): Channels of every level. Defaults to 256.
        strides (Sequence[int]): Stride of every output level, fine to
            coarse. Defaults to ``(4, 8, 16, 32, 64)``.
        scale_factors (Sequence[float], optional): The scales of the
            resampled levels, checked against those ``strides`` and
            ``patch_size`` give. Defaults to None (no check).
        norm_cfg (dict): Norm after deconvolutions and convolutions.
            Defaults to ``dict(type='LN2d', eps=1e-6)``.
        act_cfg (dict): Activation between the two deconvolutions of the 4x
            level. Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 patch_size: int,
                 out_channels: int = 256,
                 strides: Sequence[int] = (4, 8, 16, 32, 64),
                 scale_factors: Optional[Sequence[float]] = None,
                 norm_cfg: dict = dict(type='LN2d', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_int('patch_size', patch_size)
        check_positive_int('in_channels', in_channels)
        check_positive_int('out_channels', out_channels)
        scales = pyramid_scales(strides, patch_size)
        if 4 in scales and in_channels % 4:
            raise ValueError(
                f'in_channels must be a multiple of 4 for the 4x level '
                f'(two deconvolutions halving the channels), got '
                f'{in_channels}')
        if scale_factors is not None and list(scale_factors) != scales:
            raise ValueError(
                f'scale_factors {tuple(scale_factors)} give strides '
                f'{tuple(patch_size / s for s in scale_factors)} with '
                f'patch_size {patch_size}; strides {tuple(strides)} need '
                f'scale_factors {tuple(scales)}')
        norm_cfg = _resolve(norm_cfg)
        self.strides = tuple(strides)
        self.num_outs = len(strides)
        self.rescales = nn.ModuleList()
        self.convs = nn.ModuleList()
        for scale in scales:
            rescale, channels = self._rescale(scale, in_channels, norm_cfg,
                                              act_cfg)
            self.rescales.append(rescale)
            self.convs.append(
                nn.Sequential(
                    ConvModule(
                        channels,
                        out_channels,
                        1,
                        bias=False,
                        norm_cfg=norm_cfg,
                        act_cfg=None),
                    ConvModule(
                        out_channels,
                        out_channels,
                        3,
                        padding=1,
                        bias=False,
                        norm_cfg=norm_cfg,
                        act_cfg=None)))

    @staticmethod
    def _rescale(scale: float, channels: int, norm_cfg: dict,
                 act_cfg: dict) -> Tuple[nn.Module, int]:
        """The resampling of one level and its output channels."""
        if scale == 4.:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
                build_norm_layer(norm_cfg, channels // 2)[1],
                build_activation_layer(act_cfg),
                nn.ConvTranspose2d(channels // 2, channels // 4, 2,
                                   stride=2)), channels // 4
        if scale == 2.:
            return nn.ConvTranspose2d(
                channels, channels // 2, 2, stride=2), channels // 2
        if scale == 1.:
            return nn.Identity(), channels
        return nn.MaxPool2d(2, stride=2), channels

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Build the pyramid.

        Args:
            inputs (Sequence[Tensor]): Backbone maps; the last one,
                ``[N, D, h, w]``, is used.

        Returns:
            tuple[Tensor]: one map per stride ``t``,
            ``[N, out_channels, h*p/t, w*p/t]`` (``p`` the patch size,
            sizes rounded as the pooling rounds them), fine to coarse.
        """
        x = inputs[-1]  # [N, D, h, w]
        outs: List[torch.Tensor] = [
            conv(rescale(x))
            for rescale, conv in zip(self.rescales, self.convs)
        ]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
