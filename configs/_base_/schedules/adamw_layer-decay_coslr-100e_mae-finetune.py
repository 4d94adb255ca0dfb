# MAE fine-tuning: AdamW (betas 0.9, 0.999), weight decay 0.05 except on
# norms, biases, class token and positions, layer-wise lr decay, base lr
# 5e-4 per 256 images (2e-3 at 1024), 5 warm-up epochs then cosine to 1e-6
# times each param group's layer-decay factor (its lr_scale), as the official
# schedule (util/lr_sched.py); mmengine's CosineAnnealingLR would give every
# group the same floor 1e-6, above the embeddings' peak lr of ViT-H.
base_lr = 5e-4
layer_decay_rate = 0.65
warmup_epochs = 5
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=base_lr * 1024 / 256,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=layer_decay_rate,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    # ends at train_cfg.max_epochs (the runner's default `end`)
    dict(
        type='GroupFloorCosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# The lr above is for 1024 images per step; --auto-scale-lr rescales it.
auto_scale_lr = dict(base_batch_size=1024)
