# Linear probing of a plugin MAE encoder (mmpretrain's ViT-B/16): the
# fine-tuning model with every encoder weight frozen (LinearProbeViT,
# mmpretrain's ViT with frozen_stages='all': the whole encoder, whatever
# depth the arch gives), the class token after the final norm, BatchNorm
# without affine parameters (eps 1e-6), then a linear head initialised
# with std 0.01, plain cross-entropy, no Mixup.
_base_ = './vit-base-p16_mae-finetune.py'

model = dict(
    backbone=dict(
        type='mae_plugin.LinearProbeViT',
        frozen_stages='all',
        drop_path_rate=0.0,
        out_type='cls_token',
        final_norm=True),
    neck=dict(
        _delete_=True,
        type='ClsBatchNormNeck',
        input_features=768,
        affine=False,
        eps=1e-6),
    head=dict(
        loss=dict(_delete_=True, type='CrossEntropyLoss'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.01)]),
    train_cfg=None)
