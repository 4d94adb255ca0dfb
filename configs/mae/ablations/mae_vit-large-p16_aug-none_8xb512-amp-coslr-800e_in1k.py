# Table 1 ablation: (e) no augmentation: every image resized and
# centre-cropped as for testing, never flipped.
_base_ = './mae_vit-large-p16_table1-base_8xb512-amp-coslr-800e_in1k.py'

train_pipeline = {{_base_.test_pipeline}}
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
