# One point of the Fashion-MNIST ablation sweep
# (tools/analysis_tools/ablation_sweep.py): the study's small MAE
# (ViT 192x6, patch 4, decoder 128x2, mask 0.75, norm-pix) pretrained for 4
# epochs on the first 20k training images, without the per-epoch kNN.
# Each checkpoint is then probed (logistic regression and weighted kNN on
# frozen features of 10k training / all 10k test images) and fine-tuned for
# 2 epochs on the first 10k training images.
_base_ = './mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist.py'

train_dataloader = dict(dataset=dict(indices=20000))

max_epochs = 4
warmup_epochs = 1
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
custom_hooks = [dict(type='FiniteLossHook'), dict(type='UnreadableImagesHook')]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))

sweep_evaluation = dict(
    probes=dict(train_images=10000),
    finetune=dict(
        config='{{fileDirname}}/../benchmarks/classification/fashion_mnist/'
        'vit-tiny-p4_1xb256-coslr-3e_fashion-mnist.py',
        cfg_options={
            'train_cfg.max_epochs': 2,
            'train_dataloader.dataset.indices': 10000
        }))
