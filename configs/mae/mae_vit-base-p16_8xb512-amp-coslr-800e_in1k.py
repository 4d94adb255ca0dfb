_base_ = [
    '../_base_/models/mae_vit-base-p16.py',
    '../_base_/datasets/imagenet_mae.py',
    '../_base_/schedules/adamw_coslr-800e_mae.py',
    '../_base_/default_runtime.py',
]

# Mixed precision, as the paper's runs (8 GPUs x 512 images).
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
