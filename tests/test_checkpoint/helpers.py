"""Builders shared by the converter tests: tiny Hugging Face ViTMAE
models and checkpoints written in the official MAE key layout."""
import torch
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from transformers import ViTMAEForPreTraining

from mae_plugin.checkpoint import hf_vitmae_config
from mae_plugin.registry import build_model

#: Two tiny architectures: (encoder width, depth, heads, decoder width,
#: depth, heads, image size, patch size).
ARCHS = {
    'w32': (32, 2, 4, 16, 1, 2, 32, 8),
    'w48': (48, 3, 6, 32, 2, 4, 48, 8),
}


def hf_config(arch='w32', norm_pix_loss=True, mask_ratio=0.75):
    """``ViTMAEConfig`` of a tiny arch with the plugin's layer-norm eps."""
    d, depth, heads, dd, ddepth, dheads, img, patch = ARCHS[arch]
    arch = dict(
        embed_dims=d,
        num_layers=depth,
        num_heads=heads,
        feedforward_channels=4 * d)
    return hf_vitmae_config(
        arch,
        img,
        patch,
        dict(embed_dims=dd, num_layers=ddepth, num_heads=dheads),
        mask_ratio=mask_ratio,
        norm_pix=norm_pix_loss)


def randomize(model: torch.nn.Module, std: float = 0.05) -> None:
    """Perturb every trainable tensor (biases and norms included), so a
    wrong or missing key cannot go unnoticed."""
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * std)


def random_hf_mae(arch='w32', norm_pix_loss=True, mask_ratio=0.75):
    torch.manual_seed(1)
    model = ViTMAEForPreTraining(hf_config(arch, norm_pix_loss,
                                           mask_ratio)).eval()
    randomize(model)
    return model


def build_plugin(cfg):
    return build_model(cfg).eval()


def build_mmpretrain(cfg):
    """Build with names resolved in mmpretrain's scope, whatever default
    scope an earlier test left (the plugin shadows ``MAE``/``MAEViT``)."""
    with MMPRETRAIN_MODELS.switch_scope_and_registry('mmpretrain') as reg:
        return reg.build(cfg)


def official_layout(hf_state_dict, decoder=True):
    """The official MAE keys of a ``ViTMAEForPreTraining`` state dict,
    written out name by name (independently of the converters)."""
    sd = {}
    get = hf_state_dict.__getitem__
    sd['cls_token'] = get('vit.embeddings.cls_token')
    sd['pos_embed'] = get('vit.embeddings.position_embeddings')
    for p in ('weight', 'bias'):
        sd[f'patch_embed.proj.{p}'] = get(
            f'vit.embeddings.patch_embeddings.projection.{p}')
        sd[f'norm.{p}'] = get(f'vit.layernorm.{p}')
    blocks = [('blocks', 'vit.encoder.layer')]
    if decoder:
        blocks.append(('decoder_blocks', 'decoder.decoder_layers'))
        sd['mask_token'] = get('decoder.mask_token')
        sd['decoder_pos_embed'] = get('decoder.decoder_pos_embed')
        for name in ('decoder_embed', 'decoder_norm', 'decoder_pred'):
            for p in ('weight', 'bias'):
                sd[f'{name}.{p}'] = get(f'decoder.{name}.{p}')
    for ours, theirs in blocks:
        i = 0
        while f'{theirs}.{i}.layernorm_before.weight' in hf_state_dict:
            h, o = f'{theirs}.{i}.', f'{ours}.{i}.'
            for p in ('weight', 'bias'):
                sd[o + f'norm1.{p}'] = get(h + f'layernorm_before.{p}')
                sd[o + f'attn.qkv.{p}'] = torch.cat([
                    get(h + f'attention.attention.{n}.{p}')
                    for n in ('query', 'key', 'value')
                ])
                sd[o + f'attn.proj.{p}'] = get(h +
                                               f'attention.output.dense.{p}')
                sd[o + f'norm2.{p}'] = get(h + f'layernorm_after.{p}')
                sd[o + f'mlp.fc1.{p}'] = get(h + f'intermediate.dense.{p}')
                sd[o + f'mlp.fc2.{p}'] = get(h + f'output.dense.{p}')
            i += 1
    return sd
