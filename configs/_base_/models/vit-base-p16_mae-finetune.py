# mmpretrain's ViT-B/16 as fine-tuned in the MAE paper: the encoder of a
# plugin pretraining checkpoint (its `backbone.*` keys), stochastic depth,
# global average pooling of the patch tokens followed by a LayerNorm (no
# final norm on the tokens), a linear head initialised with std 2e-5, label
# smoothing 0.1, Mixup 0.8 / CutMix 1.0 (one of the two per batch).
# Point `pretrained` at your checkpoint, e.g. --cfg-options
#   model.backbone.init_cfg.checkpoint=work_dirs/mae/epoch_1600.pth
pretrained = ('work_dirs/mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k/'
              'epoch_1600.pth')
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
