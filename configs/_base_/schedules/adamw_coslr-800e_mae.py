# The MAE paper's pretraining recipe: AdamW, base lr 1.5e-4 per 256 images,
# betas (0.9, 0.95), weight decay 0.05, 40 warm-up epochs then cosine decay
# to 0. Decay-free, as the official code's rule (timm's add_weight_decay with
# no skip list): every bias and every other 1-D parameter (the norms'), so
# the class and mask tokens (1x1xD) decay with the weights. mmpretrain's MAE
# configs exempt the tokens as well: custom_keys={'cls_token':
# dict(decay_mult=0.), 'mask_token': dict(decay_mult=0.)} trains as they do.
# The sin-cos position embeddings are frozen and never updated.
# PyTorch's fused AdamW makes the same update in one pass over the weights
# instead of several (CPU and CUDA; see docs/benchmarks.md).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
        weight_decay=0.05, fused=True),
    paramwise_cfg=dict(bias_decay_mult=0., flat_decay_mult=0.))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=760,
        eta_min=0.,
        by_epoch=True,
        begin=40,
        end=800,
        convert_to_iter_based=True)
]

# Resumes exactly, mid-epoch included (see mae_plugin/engine/loops.py).
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=800)
# The lr above is for an effective batch of 4096 images per optimizer step:
# processes x train_dataloader.batch_size x optim_wrapper.accumulative_counts
# (logged at start-up). The configs' 8 GPUs x 512 reach it; so do 8 x 128 x 4
# and 1 x 256 x 16 with `--cfg-options train_dataloader.batch_size=256
# optim_wrapper.accumulative_counts=16`. --auto-scale-lr rescales the lr by
# effective batch / 4096 (accumulation included, AccumulationAwareRunner).
auto_scale_lr = dict(base_batch_size=4096)
