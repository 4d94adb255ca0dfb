# UperNet with an MAE-pretrained ViT-B/16 on ADE20K at 512x512, the recipe
# of mmseg's own MAE config (which this composes: model, ADE20K data, 160k
# schedule with linear warm-up and poly decay), itself a port of BEiT's
# segmentation code, which the MAE paper's ADE20K setup follows. Backbone as
# mmseg's `MAE`: the class token attends with the patches, each block has a
# BEiT-style relative position bias table (one scalar per head and relative
# offset, zero-initialised, as the paper) and layer scale started at 1.0;
# features of blocks 4, 6, 8, 12 through Feature2Pyramid (scales 4, 2, 1,
# 0.5); drop path 0.1; AdamW lr 1e-4, layer decay 0.65; 160k iterations at a
# total batch of 16 (8 GPUs x 2). The MAE paper reports 48.1 mIoU (ViT-B,
# its Table 5) for its own runs; mmseg's model zoo reports 48.13 for its
# config with the official ViT-B checkpoint. The backbone and the optimizer
# constructor come from the plugin. mmseg's config means fp16 mixed
# precision (its `fp16` key, which mmengine's runner does not read; its
# optim_wrapper is a plain one): pass --amp on GPUs for it; without, the
# run is in fp32, on any device.
_base_ = 'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mae_plugin'], allow_failed_imports=False)

# A pretraining checkpoint of this plugin (configs/mae/), or an official MAE
# checkpoint converted to the plugin's layout.
checkpoint = 'work_dirs/mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth'  # noqa: E501
crop_size = (512, 512)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mae_plugin.DenseViT',
        arch='base',
        img_size=crop_size,
        # positions held for the 32x32 grid: the checkpoint's 14x14 resized
        # once, at load, then trained there (mmseg's MAE, BEiT's code)
        pretrain_img_size=crop_size,
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        drop_path_rate=0.1,
        use_rel_pos_bias=True,
        layer_scale_init_value=1.0,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))

# `_delete_` drops mmseg's LayerDecayOptimizerConstructor, which exempts
# biases and every 1-D parameter (norms, layer scales) from weight decay;
# the plugin's constructor exempts only what paramwise_cfg names. No decay
# here on biases, 1-D parameters and norms (as mmseg's and BEiT's
# segmentation code), nor on the position embedding, the class token and
# the relative position tables (timm's BEiT exempts these three; mmseg's and
# BEiT's code decay them: they are not 1-D, and their name check for
# `pos_embed`/`cls_token` never matches `backbone.pos_embed`). Every other
# weight decays by 0.05.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mae_plugin.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        flat_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
        }))
