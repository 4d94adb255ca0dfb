# ImageNet in its folder layout: data/imagenet/{train,val}/<class>/<image>.
# CustomDataset that takes every image extension the loaders read and logs
# what else it found in the folder.
dataset_type = 'ImageFolder'
data_root = 'data/imagenet/'

# Loading and random-resized cropping in one step: the crops of mmpretrain's
# RandomResizedCrop, each JPEG decoded at the smallest size (1/2, 1/4, 1/8)
# that still holds its crop at 224 pixels, resampled with the antialiased
# bicubic of the official code's torchvision crops on PIL, computed by
# torch's uint8 kernels (docs/crop_resize.md: 63 dB from the official crops
# when decoded in full, 44-47 dB at half size; OpenCV's bicubic 30-41 dB)
# for 0.1 ms more per image than OpenCV's on one core; PIL itself
# (antialias_backend='pillow', the official crops value for value) costs
# 1.1 ms more.
train_pipeline = [
    dict(
        type='DecodeRandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        interpolation='bicubic',
        antialias=True,
        antialias_backend='torch'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
# The val/test loops (tools/visualize_reconstruction.py uses its loading step).
test_pipeline = [
    dict(type='mae_plugin.RobustLoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=224,
        edge='short',
        backend='cv2',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

# The last partial batch of an epoch is dropped, as in the official code;
# batches in pinned memory, as there, go to the GPU without waiting for it
# (the data preprocessor's non_blocking).
train_dataloader = dict(
    batch_size=512,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))

# Reconstruction quality on held-out images (tools/test.py).
test_dataloader = dict(
    batch_size=64,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        with_label=False,
        pipeline=test_pipeline))
test_evaluator = dict(type='ReconstructionMetric')
test_cfg = dict()
