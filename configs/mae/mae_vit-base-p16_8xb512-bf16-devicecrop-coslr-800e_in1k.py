# The bf16 ViT-B recipe with the JPEG decoding and the crops' resampling on
# the GPU: each dataloader worker reads a file, parses its header and draws
# the crop and the flip (the draws of DecodeRandomResizedCrop and RandomFlip);
# the data preprocessor decodes the batch with nvJPEG, cuts the crops out and
# resamples them with torch's antialiased bicubic (PIL's filter, as the
# official crops). Files nvJPEG is not given (PNG, CMYK, EXIF-rotated) are
# decoded and cut by the worker. For machines whose CPU cores cannot feed the
# GPU; docs/benchmarks.md has the measurements.
_base_ = './mae_vit-base-p16_8xb512-bf16-coslr-800e_in1k.py'

model = dict(
    data_preprocessor=dict(
        type='DeviceCropDataPreprocessor',
        scale=224,
        interpolation='bicubic'))

train_dataloader = dict(
    # the batch's files in one buffer (few tensors to pass between processes)
    collate_fn=dict(_delete_=True, type='mae_plugin.deferred_crop_collate'),
    dataset=dict(pipeline=[
        dict(
            type='DeferredRandomResizedCrop',
            crop_ratio_range=(0.2, 1.0),
            flip_prob=0.5),
        dict(type='PackDeferredCrop'),
    ]))
