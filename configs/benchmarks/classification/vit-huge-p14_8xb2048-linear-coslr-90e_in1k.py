# Linear probing of a plugin-pretrained ViT-H/14, recipe as ViT-B/16.
_base_ = './vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'

pretrained = ('work_dirs/mae_vit-huge-p14_8xb512-amp-coslr-1600e_in1k/'
              'epoch_1600.pth')
model = dict(
    backbone=dict(
        arch='huge',
        patch_size=14,
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(input_features=1280),
    head=dict(in_channels=1280))
