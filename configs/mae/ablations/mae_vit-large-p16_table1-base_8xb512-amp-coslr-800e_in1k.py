# Baseline of the MAE paper's Table 1 ablations (its grey rows): ViT-L/16
# pretrained 800 epochs, decoder 8 blocks x 512, random masking of 75%,
# random-resized crops, and unnormalised pixels as the target. Every other
# config in this folder changes exactly one field of this one.
_base_ = '../mae_vit-large-p16_8xb512-amp-coslr-800e_in1k.py'

model = dict(head=dict(norm_pix=False))
