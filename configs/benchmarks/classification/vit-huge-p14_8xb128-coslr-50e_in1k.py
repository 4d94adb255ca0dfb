# Fine-tune a plugin-pretrained ViT-H/14 on ImageNet, with the official
# code's settings (FINETUNE.md): as ViT-L (base lr 1e-3, layer decay 0.75,
# 50 epochs) with drop path 0.3.
_base_ = './vit-large-p16_8xb128-coslr-50e_in1k.py'

pretrained = ('work_dirs/mae_vit-huge-p14_8xb512-amp-coslr-1600e_in1k/'
              'epoch_1600.pth')
model = dict(
    backbone=dict(
        arch='huge',
        patch_size=14,
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1280))
