# Fashion-MNIST (60k training / 10k test images, 28x28 grey levels, 10
# classes) read from its idx files: `apt-get install dataset-fashion-mnist`
# puts them in /usr/share/datasets/fashion-mnist; elsewhere download the
# four files of https://github.com/zalandoresearch/fashion-mnist and set
# `data_root`.
dataset_type = 'FashionMNISTIdx'
data_root = '/usr/share/datasets/fashion-mnist/'
img_size = 28
num_classes = 10
# Pixel mean and standard deviation of the training images.
mean = [72.94]
std = [90.02]
data_preprocessor = dict(
    num_classes=num_classes, mean=mean, std=std, to_rgb=False)

train_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.5, 1.0),
        backend='cv2',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=256,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=500,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
