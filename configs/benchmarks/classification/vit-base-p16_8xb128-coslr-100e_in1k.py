# Fine-tune a plugin-pretrained ViT-B/16 on ImageNet: the official code's
# settings for its norm-pix checkpoints (FINETUNE.md, which says they differ
# slightly from the paper's Table 9 baseline on unnormalised pixels):
# 8 GPUs x 128 = 1024 images per step, base lr 5e-4, layer decay 0.65,
# drop path 0.1, 100 epochs (5 warm-up). Pass the pretraining checkpoint
# with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    '../../_base_/models/vit-base-p16_mae-finetune.py',
    '../../_base_/datasets/imagenet_bs128_mae-finetune.py',
    '../../_base_/schedules/adamw_layer-decay_coslr-100e_mae-finetune.py',
    '../../_base_/default_runtime.py',
]
