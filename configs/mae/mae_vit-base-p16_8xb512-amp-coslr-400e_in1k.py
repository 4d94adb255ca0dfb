_base_ = './mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py'

# A shorter schedule, as mmpretrain's 400-epoch config (the paper's Fig. 7
# trains 100 to 1600 epochs): 40 warm-up epochs, then the cosine to 400.
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], T_max=360, end=400)
]
train_cfg = dict(max_epochs=400)
