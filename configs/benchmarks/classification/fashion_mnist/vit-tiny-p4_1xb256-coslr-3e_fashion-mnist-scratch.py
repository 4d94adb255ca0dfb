# The baseline of the Fashion-MNIST fine-tuning: the same ViT, recipe and
# budget trained from a random initialisation (mmpretrain's ViT init), with
# one lr for all layers (layer-wise decay only makes sense for pretrained
# layers).
_base_ = './vit-tiny-p4_1xb256-coslr-3e_fashion-mnist.py'

model = dict(backbone=dict(init_cfg=None))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=1.0))
