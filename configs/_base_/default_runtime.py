default_scope = 'mae_plugin'
# The runner tools/train.py and tools/test.py build, named here so that the
# ecosystem's own tools (mmpretrain's tools/train.py builds `runner_type`
# when a config has one, mmengine's Runner otherwise) build it too: its
# --auto-scale-lr counts optim_wrapper.accumulative_counts in the batch.
runner_type = 'mae_plugin.AccumulationAwareRunner'

# The step's logged values are read from the GPU where the logger, a
# checkpoint or the end of an epoch needs them, not after every iteration
# (a wait for the GPU that keeps the next step's work from being queued).
default_hooks = dict(
    runtime_info=dict(type='LazyRuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # written to a temporary file, then renamed: a kill never truncates one
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

# Stop at a NaN/Inf loss before it reaches a checkpoint, naming the first
# (the losses' flags are read with the logger's values: at the iterations
# of the epoch the logger logs, at the end of every epoch and before every
# checkpoint); report the images skipped by
# the loading transforms (on_error='skip') every epoch; log (and check) how
# many keys a `Pretrained` init_cfg took from its checkpoint, and that none
# it holds has another shape, for fine-tuning and linear probing.
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

# mmengine averages each logged value whose name holds "loss" over its last
# window_size values: the training loss over 10 iterations, but also the
# validation's reconstruction/loss over the last 10 validations. That one
# is logged as measured (a mean of its last 1).
log_processor = dict(
    window_size=10,
    custom_cfg=[
        dict(data_src='reconstruction/loss', method_name='mean',
             window_size=1)
    ])

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
