# MAE linear probing: LARS (momentum 0.9, no weight decay), lr 0.1 per 256
# images (6.4 at 16384), 10 warm-up epochs then cosine to 0, 90 epochs.
# Biases and norms are updated without LARS's trust ratio, as the official
# lars.py (only parameters with 2 or more dimensions are adapted).
warmup_epochs = 10
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='LARS', lr=0.1 * 16384 / 256, momentum=0.9, weight_decay=0.0),
    constructor='LarsExcludeOptimWrapperConstructor')
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
        type='CosineAnnealingLR',
        eta_min=0.0,
        by_epoch=True,
        begin=warmup_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16384)
