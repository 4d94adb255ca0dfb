_base_ = './mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py'

# A shorter schedule, as mmpretrain's 300-epoch config (the paper's Fig. 7
# trains 100 to 1600 epochs): 40 warm-up epochs, then the cosine to 300.
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], T_max=260, end=300)
]
train_cfg = dict(max_epochs=300)
