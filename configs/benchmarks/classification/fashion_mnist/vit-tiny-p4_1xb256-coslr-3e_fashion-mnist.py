# Fine-tune the Fashion-MNIST MAE encoder (configs/mae/
# mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist.py): mmpretrain's ViT 192 x
# 6 on 4x4 patches of 1-channel 28x28 images, the MAE fine-tuning recipe
# scaled down (AdamW, layer decay 0.75, drop path 0.1, average-pooled patch
# tokens + LayerNorm, label smoothing 0.1, head init std 2e-5) for a short
# CPU budget: 3 epochs (1 warm-up) at 256 images per step, light crops and
# flips, no Mixup/CutMix.
# Pass the pretraining checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../../../_base_/models/vit-base-p16_mae-finetune.py',
    '../../../_base_/datasets/fashion_mnist.py',
    '../../../_base_/schedules/adamw_layer-decay_coslr-100e_mae-finetune.py',
    '../../../_base_/default_runtime.py',
]

pretrained = ('work_dirs/mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist/'
              'epoch_16.pth')
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=192,
            num_layers=6,
            num_heads=3,
            feedforward_channels=768),
        img_size={{_base_.img_size}},
        patch_size=4,
        in_channels=1,
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes={{_base_.num_classes}}, in_channels=192),
    train_cfg=None)

warmup_epochs = 1
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=3)
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
