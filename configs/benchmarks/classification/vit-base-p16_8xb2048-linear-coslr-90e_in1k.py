# Linear probing of a plugin-pretrained ViT-B/16 on ImageNet (MAE paper,
# Table 10): frozen encoder, class token, BatchNorm (no affine) + linear
# head, LARS with lr 0.1 per 256 images at 8 x 2048 = 16384 images per
# step, 90 epochs (10 warm-up). Pass the pretraining checkpoint with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    '../../_base_/models/vit-base-p16_mae-linear.py',
    '../../_base_/datasets/imagenet_bs2048_mae-linear.py',
    '../../_base_/schedules/lars_coslr-90e_mae-linear.py',
    '../../_base_/default_runtime.py',
]
