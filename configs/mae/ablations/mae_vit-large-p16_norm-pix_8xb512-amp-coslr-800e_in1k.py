# Table 1 ablation: (d) per-patch normalised pixels as the target.
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

model = dict(head=dict(norm_pix=True))
