# ImageNet in its folder layout, data/imagenet/{train,val}/<class>/<image>,
# with the MAE fine-tuning augmentation: random-resized crops, flips,
# RandAugment (m9, mstd 0.5, increasing), random erasing 0.25 (per-pixel
# noise); bicubic resizing; 256 -> 224 centre crops for evaluation. Images are
# read as in pretraining: ImageFolder takes every extension the loader reads
# (WebP, GIF, TIFF, ...) and names what it leaves out; RobustLoadImageFromFile
# converts grey, palette, transparent and 16-bit images and names an empty,
# truncated or corrupt file (mmcv's LoadImageFromFile keeps the undefined
# colours under transparent pixels and fails on an empty file in OpenCV,
# naming no file).
dataset_type = 'ImageFolder'
data_root = 'data/imagenet/'
img_size = 224
num_classes = 1000
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
bgr_mean = data_preprocessor['mean'][::-1]
bgr_std = data_preprocessor['std'][::-1]

train_pipeline = [
    dict(type='mae_plugin.RobustLoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='mae_plugin.RobustLoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=img_size * 256 // 224,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

# The last partial batch of an epoch is dropped, as in the official code.
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
