_base_ = './mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py'

# The paper's longest schedule: 40 warm-up epochs, then the cosine to 1600.
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], T_max=1560, end=1600)
]
train_cfg = dict(max_epochs=1600)
