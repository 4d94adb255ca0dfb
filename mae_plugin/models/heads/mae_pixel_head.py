"""Pixel reconstruction target and loss of MAE."""
import math
from typing import Dict, Tuple

import torch
from mmengine.model import BaseModule

from mae_plugin.registry import MODELS
from mae_plugin.utils import check_bool, check_number, check_positive_int
from ..utils import patchify, unpatchify


@MODELS.register_module()
class MAEPixelHead(BaseModule):
    """Mean squared error between predicted and true patch pixels.

    The only module that knows about pixels: it patchifies the (data
    preprocessor's normalised) input images, optionally normalises every
    patch by its own statistics (``norm_pix``) and averages the squared
    error over the removed patches.

    Args:
        patch_size (int): Patch side. Defaults to 16.
        norm_pix (bool): Target ``(x - mean) / sqrt(var + eps)`` with the
            mean and unbiased variance of that patch's ``p*p*C`` values.
            Defaults to True.
        loss_on_visible (bool): Take the loss on the visible patches too:
            average over all patches (the paper's "loss on all pixels"
            ablation) instead of the removed ones only, so a mask that
            removes nothing (mask ratio 0) works too. Defaults to False.
        eps (float): Added to the variance, finite and > 0. Defaults to
            1e-6.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 patch_size: int = 16,
                 norm_pix: bool = True,
                 loss_on_visible: bool = False,
                 eps: float = 1e-6,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size = check_positive_int('patch_size', patch_size)
        self.norm_pix = check_bool('norm_pix', norm_pix)
        self.loss_on_visible = check_bool('loss_on_visible', loss_on_visible)
        self.eps = check_number(
            'eps', eps, low=0, high=math.inf, low_open=True, high_open=True)

    def patch_statistics(
            self, patches: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean and ``sqrt(var + eps)`` of every patch, ``[N, L, 1]`` each."""
        mean = patches.mean(dim=-1, keepdim=True)
        var = patches.var(dim=-1, keepdim=True)  # unbiased
        return mean, (var + self.eps).sqrt()

    def construct_target(self, imgs: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` images to ``[N, L, p*p*C]`` targets."""
        target = patchify(imgs, self.patch_size)
        if self.norm_pix and target.shape[-1] < 2:
            raise ValueError(
                'norm_pix needs patches of at least 2 values to normalise, '
                f'got patch_size {self.patch_size} with {imgs.shape[1]} '
                'channel(s)')
        if self.norm_pix:
            mean, std = self.patch_statistics(target)
            target = (target - mean) / std
        return target

    def patch_loss(self, pred: torch.Tensor,
                   imgs: torch.Tensor) -> torch.Tensor:
        """Squared error of every patch's prediction against its target,
        averaged over the patch's values.

        Args:
            pred (Tensor): ``[N, L, p*p*C]`` decoder predictions.
            imgs (Tensor): ``[N, C, H, W]`` input images.

        Returns:
            Tensor: ``[N, L]``.
        """
        target = self.construct_target(imgs)
        if pred.shape != target.shape:
            raise ValueError(
                f'prediction {tuple(pred.shape)} does not match the target '
                f'{tuple(target.shape)} of patch_size {self.patch_size}')
        return (pred - target).pow(2).mean(dim=-1)  # [N, L]

    def loss(self, pred: torch.Tensor, imgs: torch.Tensor,
             mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reconstruction loss.

        Args:
            pred (Tensor): ``[N, L, p*p*C]`` decoder predictions.
            imgs (Tensor): ``[N, C, H, W]`` input images.
            mask (Tensor): ``[N, L]``, 1 for removed patches.

        Returns:
            dict: ``{'loss': scalar}``.
        """
        if mask.shape != pred.shape[:2]:
            raise ValueError(f'mask {tuple(mask.shape)} must be [N, L] = '
                             f'{tuple(pred.shape[:2])} as the prediction')
        loss = self.patch_loss(pred, imgs)  # [N, L]
        if self.loss_on_visible:
            return dict(loss=loss.mean())
        return dict(loss=(loss * mask).sum() / mask.sum())

    def reconstruct(self, pred: torch.Tensor,
                    imgs: torch.Tensor) -> torch.Tensor:
        """Predictions back in the input's space.

        With ``norm_pix`` the prediction of each patch is mapped back with
        the mean and standard deviation of the *true* patch of ``imgs``, so
        the statistics of removed patches are taken from the ground truth:
        such a reconstruction shows the structure the model predicted, in
        colours and contrast it did not. (The paper's figures come from a
        model trained on plain pixels, which needs no statistics.)

        Args:
            pred (Tensor): ``[N, L, p*p*C]``.
            imgs (Tensor): ``[N, C, H, W]`` input images.

        Returns:
            Tensor: ``[N, C, H, W]``.
        """
        if self.norm_pix:
            mean, std = self.patch_statistics(patchify(imgs, self.patch_size))
            pred = pred * std + mean
        grid_size = (imgs.shape[2] // self.patch_size,
                     imgs.shape[3] // self.patch_size)
        return unpatchify(pred, self.patch_size, grid_size)
