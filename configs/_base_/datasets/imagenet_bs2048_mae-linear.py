# ImageNet for MAE linear probing: weak augmentation (random-resized crops
# and flips, bicubic), 2048 images per GPU (16384 on 8 GPUs).
_base_ = './imagenet_bs128_mae-finetune.py'

train_pipeline = [
    dict(type='mae_plugin.RobustLoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale={{_base_.img_size}},
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=2048, drop_last=True, dataset=dict(pipeline=train_pipeline))
