# Table 1 ablation: (f) grid masking: one patch kept in every 2x2.
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

model = dict(
    backbone=dict(masking=dict(_delete_=True, type='GridMasking', stride=2)))
