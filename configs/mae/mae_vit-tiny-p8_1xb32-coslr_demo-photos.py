# A small MAE that pretrains on a CPU in minutes, on the photos that ship
# inside scikit-image and scikit-learn (tools/dataset_converters/
# prepare_demo_photos.py writes them to data/demo_photos). `make demo` runs it.
_base_ = [
    '../_base_/models/mae_vit-base-p16.py',
    '../_base_/datasets/imagenet_mae.py',
    '../_base_/schedules/adamw_coslr-800e_mae.py',
    '../_base_/default_runtime.py',
]

img_size = 96
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=192,
            num_layers=6,
            num_heads=3,
            feedforward_channels=768),
        img_size=img_size,
        patch_size=8),
    neck=dict(embed_dims=128, num_layers=2, num_heads=4),
    # Plain pixel targets, as the paper's figures use: a norm-pix model's
    # reconstructions are mapped back to pixels with the statistics of the
    # true (removed) patches, so their colours would come from the answer.
    head=dict(norm_pix=False))

data_root = 'data/demo_photos/'
# The photos are JPEGs with sides of 300 to 1411 pixels: about 95% of the
# 96-pixel crops decode at 1/2, 1/4 or 1/8 size (see DecodeRandomResizedCrop;
# tests/test_configs/test_configs.py counts them).
train_pipeline = [
    dict(
        type='DecodeRandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.2, 1.0),
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='mae_plugin.RobustLoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=img_size,
        edge='short',
        backend='cv2',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
photos = dict(
    type='ImageFolder', data_root=data_root, data_prefix='', with_label=False)
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    pin_memory=False,  # a CPU run: pinned memory is for copies to a GPU
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=64,
        dataset=dict(**photos, pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,  # mmpretrain's tools/train.py defaults it on
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(**photos, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReconstructionMetric')
test_evaluator = val_evaluator
val_cfg = dict()

# 16 photos x 64 repeats / 32 per batch = 32 iterations per epoch.
max_epochs = 30
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 1,
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=8), checkpoint=dict(interval=10, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
# Reconstructions of the first 4 validation photos every 5 epochs and at the
# end, as PNGs under vis_data/vis_image.
# Reconstruction figures drawn from their own dataset (so they come also
# with --no-validate), plus the runtime's guards.
custom_hooks = [
    dict(
        type='ReconstructionVisualizationHook',
        interval=160,
        num_images=4,
        dataset=dict(**photos, pipeline=test_pipeline)),
    dict(type='FiniteLossHook'),
    dict(type='UnreadableImagesHook'),
]
