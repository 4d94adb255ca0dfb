"""ViTDet's simple feature pyramid: multi-scale maps from the last map of a
plain ViT."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import nn

from mae_plugin.registry import MODELS


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


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Simple feature pyramid of ViTDet (Li et al., 2022).

    From the last feature map of the backbone (stride ``s``), each scale
    factor gives one level: 4 by two stride-2 deconvolutions (norm and
    activation in between), 2 by one, 1 by identity, 0.5 by 2x2 max pooling.
    Every level then goes through a 1x1 and a 3x3 convolution, each followed
    by the norm, to ``out_channels``. Levels beyond the scale factors (up to
    ``num_outs``) are max-pooled (kernel 1, stride 2) from the last one, as
    ViTDet's extra level for the RPN.

    Args:
        in_channels (int): Channels ``D`` of the backbone's map.
        out_channels (int): Channels of every level. Defaults to 256.
        scale_factors (Sequence[float]): Scales relative to the input map,
            each one of 4, 2, 1, 0.5, from fine to coarse. Defaults to
            ``(4., 2., 1., 0.5)``.
        num_outs (int): Number of levels out, at least
            ``len(scale_factors)``. Defaults to 5.
        norm_cfg (dict): Norm after deconvolutions and convolutions.
            Defaults to ``dict(type='LN2d', eps=1e-6)``.
        act_cfg (dict): Activation between the two deconvolutions of the 4x
            level. Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4., 2., 1., 0.5),
                 num_outs: int = 5,
                 norm_cfg: dict = dict(type='LN2d', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        unknown = [s for s in scale_factors if s not in (4., 2., 1., 0.5)]
        if unknown:
            raise ValueError(f'scale_factors must be among 4, 2, 1, 0.5, '
                             f'got {unknown}')
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs ({num_outs}) is smaller than the '
                             f'{len(scale_factors)} scale_factors')
        norm_cfg = _resolve(norm_cfg)
        self.num_outs = num_outs
        self.rescales = nn.ModuleList()
        self.convs = nn.ModuleList()
        for scale in scale_factors:
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
            tuple[Tensor]: ``num_outs`` maps ``[N, out_channels, h*s, w*s]``
            from the finest scale to the coarsest.
        """
        x = inputs[-1]  # [N, D, h, w]
        outs: List[torch.Tensor] = [
            conv(rescale(x))
            for rescale, conv in zip(self.rescales, self.convs)
        ]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
