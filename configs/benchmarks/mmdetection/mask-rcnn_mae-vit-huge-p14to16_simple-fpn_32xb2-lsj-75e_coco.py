# Mask R-CNN with an MAE-pretrained ViT-H/14: ViTDet's ViT-H recipe
# (detectron2's mask_rcnn_vitdet_h_75ep.py), the ViT-B config (see it) with
# the encoder's 32 blocks of width 1280, global attention in every eighth
# block (7, 15, 23, 31; windows elsewhere), drop path 0.5, layer decay 0.9
# and 75 epochs instead of 100 (the iterations and lr steps scaled by 3/4);
# the rest, data and lr included, as ViT-B's. detectron2's model zoo
# reports 56.7 box AP / 50.2 mask AP for it.
# ViTDet detects with 16-pixel patches, so the pyramid keeps its strides:
# the checkpoint's 14x14 patch kernels are resized bicubically to 16x16 at
# load (`pretrain_patch_size`, as the ViTDet authors converted ViT-H), and
# its 16x16 position table (224 / 14) is kept as the table of a 256-pixel
# input of 16-pixel patches (`pretrain_img_size`), then interpolated to
# each input's grid as for ViT-B.
_base_ = './mask-rcnn_mae-vit-base-p16_simple-fpn_32xb2-lsj-100e_coco.py'

checkpoint = 'work_dirs/mae_vit-huge-p14_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='huge',
        patch_size=16,
        pretrain_patch_size=14,
        pretrain_img_size=256,
        drop_path_rate=0.5,
        global_attn_indexes=(7, 15, 23, 31),
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=1280))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.9))

max_iters = 184375 * 3 // 4
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[163889 * 3 // 4, 177546 * 3 // 4],
        gamma=0.1)
]
