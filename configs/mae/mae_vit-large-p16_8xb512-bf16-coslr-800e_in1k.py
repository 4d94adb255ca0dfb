# ViT-L/16 with bf16 autocast: see the ViT-B config this one derives from.
_base_ = './mae_vit-base-p16_8xb512-bf16-coslr-800e_in1k.py'

model = dict(backbone=dict(arch='large'))
