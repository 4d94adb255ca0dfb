# Table 1 ablation: (e) crops of a fixed size (short side resized to 256,
# random 224 crop) and flips instead of random-resized crops.
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

train_pipeline = [
    dict(type='mae_plugin.RobustLoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='cv2',
        interpolation='bicubic'),
    dict(type='RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
