default_scope = 'mae_plugin'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # written to a temporary file, then renamed: a kill never truncates one
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

# Stop at the first NaN/Inf loss before it reaches a checkpoint; report the
# images skipped by the loading transforms (on_error='skip') every epoch;
# log (and check) how many keys a `Pretrained` init_cfg took from its
# checkpoint, for fine-tuning and linear probing.
custom_hooks = [
    dict(type='FiniteLossHook'),
    dict(type='UnreadableImagesHook'),
    dict(type='PretrainedKeysHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_processor = dict(window_size=10)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
