# Mask R-CNN with an MAE-pretrained ViT-L/16: ViTDet's ViT-L recipe, the
# ViT-B config (see it) with the encoder's 24 blocks of width 1024, global
# attention in every sixth block (5, 11, 17, 23; windows elsewhere), drop
# path 0.4 and layer decay 0.8 (detectron2's mask_rcnn_vitdet_l_100ep.py);
# the rest, data, schedule and lr included, as ViT-B's. detectron2's model
# zoo reports 55.5 box AP / 49.2 mask AP for it. The MAE paper's ViT-L
# figure, 53.3 box AP (its Table 4), comes from its own earlier setup.
_base_ = './mask-rcnn_mae-vit-base-p16_simple-fpn_32xb2-lsj-100e_coco.py'

checkpoint = 'work_dirs/mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.4,
        global_attn_indexes=(5, 11, 17, 23),
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
