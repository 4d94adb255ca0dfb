"""One factory of the MAE model dict, shared by configs, tests and tools."""
from typing import Optional, Tuple, Union

#: The paper's decoder: 8 blocks of width 512 (16 heads), MLP ratio 4.
DEFAULT_DECODER = dict(
    embed_dims=512, num_layers=8, num_heads=16, mlp_ratio=4.)


def mae_config(arch: Union[str, dict] = 'base',
               img_size: Union[int, Tuple[int, int]] = 224,
               patch_size: int = 16,
               in_channels: int = 3,
               mask_ratio: float = 0.75,
               decoder: Optional[dict] = None,
               norm_pix: bool = True,
               norm_cfg: Optional[dict] = None,
               data_preprocessor: Optional[dict] = None) -> dict:
    """The config dict of an :class:`~mae_plugin.models.MAE` model.

    Every dimension is written once, on the backbone: :class:`MAE` gives
    the neck its patch grid, input width and output channels and the head
    its patch size from the backbone.

    Args:
        arch (str | dict): Encoder size, see :class:`MAEViT`. Defaults to
            ``'base'``.
        img_size (int | tuple): Training image size. Defaults to 224.
        patch_size (int): Patch side. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        mask_ratio (float): Fraction of patches removed by random masking.
            Defaults to 0.75.
        decoder (dict, optional): Decoder width, depth, heads and MLP ratio
            (keys of :class:`MAEDecoder`). Defaults to
            :data:`DEFAULT_DECODER`.
        norm_pix (bool): Per-patch normalised pixel targets. Defaults to
            True.
        norm_cfg (dict, optional): Norm layers of encoder and decoder.
            Defaults to None (each module's default).
        data_preprocessor (dict, optional): Defaults to None (MAE's
            default, ``SelfSupDataPreprocessor`` without normalisation).

    Returns:
        dict: ``dict(type='mae_plugin.MAE', backbone=..., neck=...,
        head=...)``: the scoped name builds the plugin's ``MAE`` in any
        default scope (mmpretrain's ``get_model``, ``init_model`` and
        ``FeatureExtractor`` build in theirs, where ``'MAE'`` is
        mmpretrain's own); ``MAE`` builds its parts in the plugin's.
    """
    norm = {} if norm_cfg is None else dict(norm_cfg=norm_cfg)
    decoder = decoder or DEFAULT_DECODER
    if norm and 'norm_cfg' in decoder:
        raise ValueError('norm_cfg is given twice: as an argument and in '
                         "decoder['norm_cfg']; give one")
    model = dict(
        type='mae_plugin.MAE',
        backbone=dict(
            type='MAEViT',
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            in_channels=in_channels,
            masking=dict(type='RandomMasking', mask_ratio=mask_ratio),
            **norm),
        neck=dict(type='MAEDecoder', **decoder, **norm),
        head=dict(type='MAEPixelHead', norm_pix=norm_pix))
    if data_preprocessor is not None:
        model['data_preprocessor'] = data_preprocessor
    return model
