"""The peers of the step benchmark built with one architecture: the plugin's
MAE, mmpretrain's ``MAE`` and Hugging Face's ``ViTMAEForPreTraining``, each
with its loss and the converter of the plugin's weights to its layout."""
from dataclasses import dataclass
from typing import Callable, Union

import torch
from torch.nn.attention import SDPBackend

from mae_plugin.checkpoint import (convert_to_hf_vitmae, hf_vitmae_config,
                                   convert_to_mmpretrain_mae)
from mae_plugin.models import MAEViT, mae_config
from mae_plugin.models.utils import check_divisible
from mae_plugin.registry import build_model
from mae_plugin.utils import check_choice, check_number, check_positive_int

DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
#: ``torch.compile`` modes; ``'reduce-overhead'`` replays CUDA graphs.
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs')
#: Kernels ``scaled_dot_product_attention`` may be restricted to; ``'auto'``
#: leaves torch's choice.
SDPA_BACKENDS = {
    'auto': None,
    'flash': SDPBackend.FLASH_ATTENTION,
    'efficient': SDPBackend.EFFICIENT_ATTENTION,
    'cudnn': SDPBackend.CUDNN_ATTENTION,
    'math': SDPBackend.MATH,
}
PEERS = ('mae_plugin', 'mmpretrain', 'hf', 'mask_tokens')
#: The class of each peer's transformer blocks (encoder and decoder).
BLOCK_CLASSES = {
    'mae_plugin': 'TransformerBlock',
    'mmpretrain': 'TransformerEncoderLayer',
    'hf': 'ViTMAELayer',
    'mask_tokens': 'TransformerBlock'
}
# Each implementation's own AdamW: the plugin's pretraining configs use
# PyTorch's fused kernel, mmpretrain's MAE configs and Hugging Face's Trainer
# (``optim='adamw_torch'``, its default) PyTorch's default implementation.
OWN_ADAMW = {
    'mae_plugin': dict(fused=True),
    'mmpretrain': {},
    'hf': {},
    'mask_tokens': dict(fused=True)
}


@dataclass
class BenchmarkSpec:
    """What to benchmark.

    Attributes:
        arch (str | dict): A name of ``MAEViT.arch_zoo`` (base, large,
            huge, deit-small ...) or an arch dict.
        img_size (int): Square input side, a multiple of ``patch_size``.
        patch_size (int): Patch side.
        batch_size (int): Images per step.
        mask_ratio (float): Fraction of patches removed, in [0, 1).
        decoder_dims (int): Decoder width, a multiple of
            ``decoder_heads``.
        decoder_depth (int): Decoder blocks.
        decoder_heads (int): Decoder attention heads.
        norm_pix (bool): Per-patch normalised targets.
        dtype (str): ``fp32``, ``bf16`` or ``fp16`` (autocast for the
            latter two).
        device (str): ``cpu`` or ``cuda``.
        same_adamw (bool): Give every peer PyTorch's default AdamW instead
            of its own (:data:`OWN_ADAMW`), to compare the models alone.
        compile (bool): Run every peer's forward and loss through
            ``torch.compile`` (its backward follows), as the runner's
            ``compile`` setting does for the training step.
        compile_blocks (bool): Compile each transformer block of every
            peer on its own instead (:data:`BLOCK_CLASSES`), as the
            runner's ``compile=dict(regions=...)`` does.
        compile_mode (str): ``torch.compile``'s ``mode`` for either (one of
            :data:`COMPILE_MODES`): ``'reduce-overhead'`` replays each
            compiled graph as a CUDA graph, one launch for all its kernels.
        sdpa_backend (str): The attention kernel of every peer, one of
            :data:`SDPA_BACKENDS` (``'auto'``: torch's choice); a kernel
            that cannot run the attention (the device, the head dimension)
            is an error of the first step.
    """
    arch: Union[str, dict] = 'base'
    img_size: int = 224
    patch_size: int = 16
    batch_size: int = 8
    mask_ratio: float = 0.75
    decoder_dims: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16
    norm_pix: bool = True
    dtype: str = 'fp32'
    device: str = 'cpu'
    same_adamw: bool = False
    compile: bool = False
    compile_blocks: bool = False
    compile_mode: str = 'default'
    sdpa_backend: str = 'auto'

    def __post_init__(self) -> None:
        if not isinstance(self.arch, dict) and (not isinstance(self.arch, str)
                                                or self.arch.lower()
                                                not in MAEViT.arch_zoo):
            raise ValueError(f'arch must be an arch dict or one of '
                             f'{sorted(MAEViT.arch_zoo)}, got {self.arch!r}')
        for name in ('img_size', 'patch_size', 'batch_size', 'decoder_dims',
                     'decoder_depth', 'decoder_heads'):
            check_positive_int(name, getattr(self, name))
        # what the models refuse as they are built, named by field before
        check_divisible(self.img_size, self.img_size, self.patch_size,
                        'img_size')
        check_number('mask_ratio', self.mask_ratio, 0, 1, high_open=True)
        if self.decoder_dims % self.decoder_heads:
            raise ValueError(
                'decoder_dims must be a multiple of decoder_heads '
                f'({self.decoder_heads}), got {self.decoder_dims}')
        check_choice('dtype', self.dtype, sorted(DTYPES))
        if self.compile and self.compile_blocks:
            raise ValueError('compile and compile_blocks exclude each other:'
                             ' the whole loss or the blocks one by one')
        check_choice('compile_mode', self.compile_mode, COMPILE_MODES)
        if self.compile_mode != 'default' and not (self.compile
                                                   or self.compile_blocks):
            raise ValueError(f'compile_mode={self.compile_mode!r} needs '
                             'compile or compile_blocks')
        check_choice('sdpa_backend', self.sdpa_backend, list(SDPA_BACKENDS))

    @property
    def decoder(self) -> dict:
        """The decoder as :func:`~mae_plugin.models.mae_config` takes it
        (MLP ratio 4)."""
        return dict(
            embed_dims=self.decoder_dims,
            num_layers=self.decoder_depth,
            num_heads=self.decoder_heads)

    @property
    def encoder(self) -> dict:
        if isinstance(self.arch, dict):
            return self.arch
        return MAEViT.arch_zoo[self.arch.lower()]


def build_plugin(spec: BenchmarkSpec, mask_tokens: bool = False):
    """The plugin's MAE; ``mask_tokens`` removes no patch and takes the
    loss over all of them: the compute of the paper's "w/ [M]" baseline
    (its encoder runs on every patch), not that model, whose encoder sees
    mask tokens (``MAEViT(mask_token_in_encoder=True)``)."""
    cfg = mae_config(
        arch=dict(spec.encoder),
        img_size=spec.img_size,
        patch_size=spec.patch_size,
        mask_ratio=0. if mask_tokens else spec.mask_ratio,
        decoder=spec.decoder,
        norm_pix=spec.norm_pix)
    cfg['head']['loss_on_visible'] = mask_tokens
    return build_model(cfg)


def build_mmpretrain(spec: BenchmarkSpec):
    """mmpretrain's MAE with the architecture of ``spec``."""
    # Scoped type names: mmpretrain's classes even where a default scope
    # of mae_plugin (which has its own MAE and MAEViT) is set.
    from mmpretrain.registry import MODELS
    enc = spec.encoder
    return MODELS.build(
        dict(
            type='mmpretrain.MAE',
            backbone=dict(
                type='mmpretrain.MAEViT',
                arch=dict(enc),
                img_size=spec.img_size,
                patch_size=spec.patch_size,
                mask_ratio=spec.mask_ratio),
            neck=dict(
                type='mmpretrain.MAEPretrainDecoder',
                num_patches=(spec.img_size // spec.patch_size)**2,
                patch_size=spec.patch_size,
                embed_dim=enc['embed_dims'],
                decoder_embed_dim=spec.decoder_dims,
                decoder_depth=spec.decoder_depth,
                decoder_num_heads=spec.decoder_heads),
            head=dict(
                type='mmpretrain.MAEPretrainHead',
                norm_pix=spec.norm_pix,
                patch_size=spec.patch_size,
                loss=dict(
                    type='mmpretrain.PixelReconstructionLoss',
                    criterion='L2'))))


def build_hf(spec: BenchmarkSpec):
    """Hugging Face's ViTMAEForPreTraining with the architecture of
    ``spec``."""
    try:
        from transformers import ViTMAEForPreTraining
    except ImportError as error:
        raise ImportError(
            "the 'hf' peer needs transformers 4.46.3 (in "
            'requirements/tests.txt; newer releases break '
            "mmpretrain's imports): install it, or leave 'hf' out of "
            '--peers') from error
    return ViTMAEForPreTraining(
        hf_vitmae_config(
            spec.encoder,
            spec.img_size,
            spec.patch_size,
            spec.decoder,
            mask_ratio=spec.mask_ratio,
            norm_pix=spec.norm_pix,
            attn_implementation='sdpa'))


def loss_fn(name: str, model) -> Callable[[torch.Tensor], torch.Tensor]:
    """The training loss of a peer for a batch of images."""
    if name == 'hf':
        return lambda x: model(pixel_values=x).loss
    return lambda x: model.loss(x, [])['loss']


CONVERTERS = {
    'mae_plugin': lambda sd: sd,
    'mmpretrain': lambda sd: convert_to_mmpretrain_mae(sd)[0],
    'hf': lambda sd: convert_to_hf_vitmae(sd)[0],
    'mask_tokens': lambda sd: sd,
}

BUILDERS = {
    'mae_plugin': build_plugin,
    'mmpretrain': build_mmpretrain,
    'hf': build_hf,
    'mask_tokens': lambda spec: build_plugin(spec, mask_tokens=True),
}
