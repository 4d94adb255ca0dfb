# Fine-tune a plugin-pretrained ViT-L/16 on ImageNet, with the official
# code's settings for its norm-pix checkpoints (FINETUNE.md; see the ViT-B
# config): 1024 images per step, base lr 1e-3 (4e-3 at 1024), layer decay
# 0.75, drop path 0.2, 50 epochs (5 warm-up).
_base_ = './vit-base-p16_8xb128-coslr-100e_in1k.py'

pretrained = ('work_dirs/mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k/'
              'epoch_1600.pth')
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1024))
optim_wrapper = dict(
    optimizer=dict(lr=1e-3 * 1024 / 256),
    paramwise_cfg=dict(layer_decay_rate=0.75))
train_cfg = dict(max_epochs=50)
