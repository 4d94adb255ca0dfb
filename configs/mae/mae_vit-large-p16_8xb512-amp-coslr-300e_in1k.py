_base_ = './mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(backbone=dict(arch='large'))
