# Table 1 ablation: (e) random-resized crops and flips plus colour jitter,
# torchvision's (strengths 0.4 and hue 0.1, as in MoCo v2); mmcv 2.1's own
# hue shift fails under NumPy 2 for negative shifts.
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

train_pipeline = [
    dict(
        type='DecodeRandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        interpolation='bicubic',
        antialias=True,
        antialias_backend='torch'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(
        type='torchvision/ColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.1),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
