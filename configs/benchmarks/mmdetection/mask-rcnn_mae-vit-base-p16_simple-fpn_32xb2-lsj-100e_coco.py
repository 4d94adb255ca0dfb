# Mask R-CNN with an MAE-pretrained ViT-B/16 and ViTDet's simple feature
# pyramid on COCO, the recipe of ViTDet (Li, Mao, Girshick, He 2022), whose
# paper and detectron2 model zoo report 51.6 box AP / 45.9 mask AP for this
# setup. The MAE paper's 50.3 box AP (44.9 mask AP, its Table 4) comes from
# its own earlier setup, not this one: an FPN on four equal groups of blocks
# after Li et al. 2021 ("Benchmarking Detection Transfer Learning with
# Vision Transformers"), hyper-parameters searched per entry. Input
# 1024x1024 with large-scale jitter (scale 0.1-2), windowed attention
# (14x14) with global blocks 2, 5, 8, 11 and ViTDet's decomposed relative
# positions (per-axis tables, zero-initialised), drop path 0.1, AdamW lr
# 1e-4 wd 0.1, layer decay 0.7, 184375 iterations at a total batch of 64
# (100 epochs), lr steps at 88.9% and 96.3%. The batch is 32 GPUs x 2
# images (`32xb2`, as mmdet's ViTDet runs); on other machines keep the total
# at 64 with `train_dataloader.batch_size` (8 GPUs: 8) or
# `optim_wrapper.accumulative_counts`, or pass --auto-scale-lr, which
# rescales the lr by the effective batch but not the iterations. ViTDet
# trains in fp16 mixed precision (detectron2's `train.amp.enabled`): pass
# --amp on GPUs; without, the plain OptimWrapper here runs in fp32, on any
# device.
# Composes mmdet's Mask R-CNN and LSJ-100e bases; the backbone, neck and
# optimizer constructor come from the plugin.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::common/lsj-100e_coco-instance.py',
]
custom_imports = dict(imports=['mae_plugin'], allow_failed_imports=False)

# A pretraining checkpoint of this plugin (configs/mae/), or an official MAE
# checkpoint converted to the plugin's layout.
checkpoint = 'work_dirs/mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth'  # noqa: E501
image_size = (1024, 1024)
norm_cfg = dict(type='mae_plugin.LN2d', eps=1e-6)

model = dict(
    # Every input is padded at the bottom and right to 1024x1024, in testing
    # too (the test pipeline resizes the longer side to 1024), as ViTDet's
    # code: the global blocks then see the 64x64 grid their relative
    # position tables are built for. Padding here, not with a Pad in the
    # test pipeline, keeps img_shape the resized image's, so boxes are
    # clipped to the image before scale_factor maps them back, and pads
    # with 0 after normalisation, as BatchFixedSizePad does in training.
    data_preprocessor=dict(
        pad_size_divisor=image_size[0],  # image_size is square
        batch_augments=[
            dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
        ]),
    backbone=dict(
        _delete_=True,
        type='mae_plugin.DenseViT',
        arch='base',
        img_size=image_size,
        pretrain_img_size=224,
        patch_size=16,
        out_indices=(-1, ),
        drop_path_rate=0.1,
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        use_rel_pos=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='mae_plugin.SimpleFeaturePyramid',
        in_channels=768,
        out_channels=256,
        # the strides of mmdet's RPN anchors and RoI extractors
        patch_size=16,
        strides=(4, 8, 16, 32, 64),
        norm_cfg=norm_cfg),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

# ViTDet tests on the longer side resized to 1024 (then padded to 1024x1024
# by the data preprocessor).
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
# 32 GPUs x 2 images = 64 per iteration.
train_dataloader = dict(batch_size=2, sampler=dict(type='InfiniteSampler'))
auto_scale_lr = dict(base_batch_size=64)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# Weight decay as ViTDet's code (detectron2, mask_rcnn_vitdet_b_100ep.py):
# none on norm layers and `pos_embed`; biases and the relative position
# tables decay like the weights. Here every LayerNorm and LN2d is exempt;
# detectron2 exempts the ViT's and decays its own channel-first LayerNorm of
# the pyramid and heads. (mmdet's ViTDet project exempts all 1-D params.)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    constructor='mae_plugin.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        norm_decay_mult=0.,
        custom_keys={'pos_embed': dict(decay_mult=0.)}),
    clip_grad=None)

max_iters = 184375
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=5000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[163889, 177546],
        gamma=0.1)
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
