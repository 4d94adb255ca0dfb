# Table 1 ablation: (c) the encoder also runs on mask tokens
# at the removed positions ("encoder w/ [M]").
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

model = dict(backbone=dict(mask_token_in_encoder=True))
