# Table 1 ablation: (f) block-wise masking of 75%.
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

model = dict(
    backbone=dict(
        masking=dict(_delete_=True, type='BlockMasking', mask_ratio=0.75)))
