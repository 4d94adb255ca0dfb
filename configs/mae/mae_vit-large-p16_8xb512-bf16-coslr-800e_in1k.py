# The paper's recipe with bf16 autocast in place of fp16 AMP: bf16 keeps
# fp32's exponent range, so there is no loss scaler (no per-step overflow
# checks, no NaN from an fp16 overflow); weights, gradients and AdamW's state
# stay fp32. Needs bf16 matrix units (NVIDIA Ampere or later; recent x86
# CPUs). The fp16 config beside this one remains the paper's setting.
_base_ = './mae_vit-large-p16_8xb512-amp-coslr-800e_in1k.py'

optim_wrapper = dict(
    _delete_=True,
    type='AutocastOptimWrapper',
    optimizer={{_base_.optim_wrapper.optimizer}},
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
