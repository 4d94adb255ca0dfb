# MAE with a ViT-B/16 encoder on 224x224 images; the decoder, the head and
# their dimensions follow from the backbone (see mae_plugin.models.mae_config).
_base_ = []  # keeps mmengine's classic (non-lazy) parsing with the import

from mae_plugin.models import mae_config  # noqa: E402

model = mae_config(
    arch='base',
    img_size=224,
    patch_size=16,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        # the copy of a batch from pinned memory (the loader's pin_memory)
        # to the GPU does not wait for the GPU's queue to empty
        non_blocking=True))
