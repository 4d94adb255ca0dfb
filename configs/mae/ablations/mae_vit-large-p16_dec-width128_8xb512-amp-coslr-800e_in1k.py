# Table 1 ablation: (b) decoder width 128.
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

model = dict(neck=dict(embed_dims=128))
