model = dict(
    type='MAE',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='MAEViT',
        arch='base',
        img_size=224,
        patch_size=16,
        masking=dict(type='RandomMasking', mask_ratio=0.75)),
    neck=dict(
        type='MAEDecoder',
        in_channels=768,
        embed_dims=512,
        num_layers=8,
        num_heads=16,
        mlp_ratio=4.,
        img_size=224,
        patch_size=16),
    head=dict(type='MAEPixelHead', patch_size=16, norm_pix=True))
