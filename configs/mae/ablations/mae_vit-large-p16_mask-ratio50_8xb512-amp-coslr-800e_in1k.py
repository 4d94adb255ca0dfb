# Table 1 ablation: mask ratio 50% (Figure 5).
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

model = dict(backbone=dict(masking=dict(mask_ratio=0.5)))
