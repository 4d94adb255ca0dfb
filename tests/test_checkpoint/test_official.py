"""Official MAE checkpoints (encoder-only, full pretrained, fine-tuned),
written by the tests in the official key layout."""
import pytest
import torch
import torch.nn.functional as F

from mae_plugin.checkpoint import (convert_official_mae,
                                   convert_to_official_mae,
                                   convert_to_timm_vit,
                                   load_state_dict_file, load_weights,
                                   mae_config_from_hf)
from .helpers import (build_mmpretrain, build_plugin, official_layout,
                      random_hf_mae)

TOL = dict(rtol=0, atol=1e-5)


def save_official(tmp_path, state_dict, name):
    path = str(tmp_path / name)
    torch.save({'model': state_dict, 'epoch': 799}, path)
    return load_state_dict_file(path)


def test_encoder_only_checkpoint_gives_the_hf_encoder_output(tmp_path):
    hf = random_hf_mae('w48')
    official = save_official(tmp_path,
                             official_layout(hf.state_dict(), decoder=False),
                             'mae_pretrain_vit.pth')
    state_dict, report = convert_official_mae(official)
    assert report.parts == ['encoder (depth 3)', 'final norm']
    assert report.missing == [] and report.unexpected == []
    assert sum(len(src) for src, _ in report.converted) == len(official)

    plugin = build_plugin(mae_config_from_hf(hf.config))
    loaded = load_weights(plugin, state_dict)
    assert len(loaded.matched) == len(official) == 4 + 3 * 12 + 2
    assert loaded.missing and all(
        k.startswith('neck.') for k in loaded.missing)

    x, noise = torch.randn(2, 3, 48, 48), torch.rand(2, 36)
    latent, mask, _ = plugin.backbone(x, noise=noise)
    out = hf.vit(pixel_values=x, noise=noise)
    torch.testing.assert_close(latent, out.last_hidden_state, **TOL)
    assert torch.equal(mask, out.mask)


def test_full_pretrained_checkpoint_accounts_for_every_key(tmp_path):
    hf = random_hf_mae('w32')
    official = save_official(tmp_path, official_layout(hf.state_dict()),
                             'mae_visualize_vit.pth')
    state_dict, report = convert_official_mae(official)
    assert report.parts == [
        'encoder (depth 2)', 'final norm', 'decoder (depth 1)'
    ]
    assert report.missing == [] and report.unexpected == []
    assert sum(len(src) for src, _ in report.converted) == len(official)

    plugin = build_plugin(mae_config_from_hf(hf.config))
    loaded = load_weights(plugin, state_dict, strict=True)
    assert len(loaded.matched) == len(plugin.state_dict()) == len(official)

    x, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    pred, mask = plugin.reconstruct(x, noise=noise)
    out = hf(pixel_values=x, noise=noise)
    torch.testing.assert_close(pred, out.logits, **TOL)
    latent, _, _ = plugin.backbone(x, noise=noise)
    torch.testing.assert_close(
        latent,
        hf.vit(pixel_values=x, noise=noise).last_hidden_state, **TOL)

    back, report = convert_to_official_mae(state_dict)
    assert report.missing == [] and report.unexpected == []
    assert set(back) == set(official)
    assert all(torch.equal(back[k], v) for k, v in official.items())


def fine_tuned(hf, num_classes=5, global_pool=True):
    """Official fine-tuned layout: the encoder, then ``fc_norm`` (global
    pooling, ``norm`` removed) or ``norm``, and ``head``."""
    state_dict = official_layout(hf.state_dict(), decoder=False)
    dims = hf.config.hidden_size
    if global_pool:
        del state_dict['norm.weight'], state_dict['norm.bias']
        state_dict['fc_norm.weight'] = 1 + 0.1 * torch.randn(dims)
        state_dict['fc_norm.bias'] = 0.1 * torch.randn(dims)
    state_dict['head.weight'] = torch.randn(num_classes, dims)
    state_dict['head.bias'] = torch.randn(num_classes)
    return state_dict


def classifier(hf, out_type, final_norm, num_classes=5):
    """mmpretrain's fine-tuning model of the HF encoder's arch."""
    config = hf.config
    return build_mmpretrain(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=mae_config_from_hf(config)['backbone']['arch'],
                img_size=config.image_size,
                patch_size=config.patch_size,
                out_type=out_type,
                final_norm=final_norm),
            neck=None,
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=config.hidden_size))).eval()


def test_fine_tuned_global_pool_layout_loads_into_mmpretrain_classifier(
        tmp_path):
    hf = random_hf_mae('w32', mask_ratio=0.0)
    official = save_official(tmp_path, fine_tuned(hf), 'mae_finetuned.pth')
    state_dict, report = convert_official_mae(official)
    assert report.parts == [
        'encoder (depth 2)', 'fc_norm (global pool)', 'classifier head'
    ]
    assert report.missing == [] and report.unexpected == []
    assert any("out_type='avg_featmap'" in note for note in report.notes)

    model = classifier(hf, 'avg_featmap', final_norm=False)
    loaded = load_weights(model, state_dict, strict=True)
    assert len(loaded.matched) == len(model.state_dict()) == len(official)

    # Reference: the HF encoder blocks (same weights, nothing masked, patch
    # order kept), then global pooling, fc_norm and head written out.
    x = torch.randn(2, 3, 32, 32)
    out = hf.vit(
        pixel_values=x,
        noise=torch.arange(16.).expand(2, -1),
        output_hidden_states=True)
    pooled = out.hidden_states[-1][:, 1:].mean(dim=1)  # [N, D]
    pooled = F.layer_norm(pooled, (32, ), official['fc_norm.weight'],
                          official['fc_norm.bias'], 1e-6)
    logits = F.linear(pooled, official['head.weight'], official['head.bias'])
    torch.testing.assert_close(model(x), logits, **TOL)


def test_fine_tuned_class_token_layout_loads_with_the_final_norm(tmp_path):
    hf = random_hf_mae('w32')
    official = fine_tuned(hf, global_pool=False)
    state_dict, report = convert_official_mae(official)
    assert report.parts == [
        'encoder (depth 2)', 'final norm', 'classifier head'
    ]
    model = classifier(hf, 'cls_token', final_norm=True)
    loaded = load_weights(model, state_dict, strict=True)
    assert len(loaded.matched) == len(official)


def test_linear_probe_layout_loads_into_mmpretrain_and_round_trips():
    """The official linear probe: the class token after ``norm``, a
    BatchNorm without affine parameters (``head.0``), the classifier
    (``head.1``); mmpretrain's ClsBatchNormNeck and LinearClsHead."""
    hf = random_hf_mae('w32', mask_ratio=0.0)
    official = official_layout(hf.state_dict(), decoder=False)
    official.update({
        'head.0.running_mean': torch.randn(32),
        'head.0.running_var': torch.rand(32) + 0.5,
        'head.0.num_batches_tracked': torch.tensor(1000),
        'head.1.weight': torch.randn(5, 32),
        'head.1.bias': torch.randn(5)
    })
    state_dict, report = convert_official_mae(official)
    assert report.parts == [
        'encoder (depth 2)', 'final norm',
        'linear-probe head (BatchNorm, classifier)'
    ]
    assert report.missing == [] and report.unexpected == []
    assert any('ClsBatchNormNeck(affine=False' in n for n in report.notes)
    model = classifier(hf, 'cls_token', final_norm=True)
    model.neck = build_mmpretrain(
        dict(type='ClsBatchNormNeck', input_features=32, affine=False,
             eps=1e-6)).eval()
    loaded = load_weights(model, state_dict, strict=True)
    assert len(loaded.matched) == len(model.state_dict()) == len(official)

    x = torch.randn(2, 3, 32, 32)
    cls = hf.vit(pixel_values=x, noise=torch.arange(16.).expand(2, -1)
                 ).last_hidden_state[:, 0]  # after the final norm
    normed = (cls - official['head.0.running_mean']) / (
        official['head.0.running_var'] + 1e-6).sqrt()
    logits = F.linear(normed, official['head.1.weight'],
                      official['head.1.bias'])
    # logits of up to ~20 here, and the BatchNorm by hand is another
    # formula than torch's: float32's relative tolerance on top of TOL
    # (a bare 1e-5 is 5 float32 steps at 20, 1 of them used on one CPU)
    torch.testing.assert_close(model(x), logits, rtol=1.3e-6, atol=1e-5)

    back, report = convert_to_official_mae(state_dict)
    assert report.missing == [] and report.unexpected == []
    assert report.dropped == []
    assert set(back) == set(official)
    assert all(torch.equal(back[k], v) for k, v in official.items())
    # timm's ViT has no place for the BatchNorm: its statistics are
    # reported, not dropped as a decoder
    _, report = convert_to_timm_vit(state_dict)
    assert report.unexpected == [
        'neck.bn.running_mean', 'neck.bn.running_var',
        'neck.bn.num_batches_tracked'
    ]
    assert report.dropped == []


def test_global_pool_linear_probe_layout_round_trips():
    """The official linear probe with ``--global_pool``: ``fc_norm`` after
    the mean of the patches in place of ``norm``."""
    official = official_layout(random_hf_mae('w32').state_dict(),
                               decoder=False)
    del official['norm.weight'], official['norm.bias']
    official.update({
        'fc_norm.weight': torch.randn(32), 'fc_norm.bias': torch.randn(32),
        'head.0.running_mean': torch.randn(32),
        'head.0.running_var': torch.rand(32) + 0.5,
        'head.0.num_batches_tracked': torch.tensor(10),
        'head.1.weight': torch.randn(5, 32), 'head.1.bias': torch.randn(5)
    })
    state_dict, report = convert_official_mae(official)
    assert report.missing == [] and report.unexpected == []
    assert any("VisionTransformer(out_type='avg_featmap', final_norm=False)"
               in note for note in report.notes)
    assert torch.equal(state_dict['backbone.ln2.weight'],
                       official['fc_norm.weight'])
    back, report = convert_to_official_mae(state_dict)
    assert report.missing == report.unexpected == report.dropped == []
    assert set(back) == set(official)
    assert all(torch.equal(back[k], v) for k, v in official.items())


def test_missing_and_unknown_keys_are_reported_not_dropped():
    official = official_layout(random_hf_mae('w32').state_dict())
    del official['blocks.1.attn.qkv.bias']
    official['blocks.1.attn.relative_bias'] = torch.zeros(3)
    state_dict, report = convert_official_mae(official)
    assert report.missing == ['backbone.layers.1.attn.qkv.bias']
    assert report.unexpected == ['blocks.1.attn.relative_bias']
    assert 'backbone.layers.1.attn.qkv.bias' not in state_dict
    assert 'missing: backbone.layers.1.attn.qkv.bias' in report.summary()


def test_a_checkpoint_of_another_model_is_refused():
    with pytest.raises(ValueError, match='official MAE'):
        convert_official_mae({'backbone.conv1.weight': torch.zeros(1)})


SINCOS_NOTE = ('{} copied as stored: the official fixed 2D sin-cos (column '
               "in the first half of the channels) is the plugin's layout")


def pos_embed_notes(report):
    return [note for note in report.notes if 'pos_embed' in note]


@pytest.mark.parametrize('decoder', [False, True])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_the_sincos_note_names_the_tables_the_file_has(decoder, dtype):
    """Encoder-only files have no decoder_pos_embed to note; a table
    stored in bfloat16 is still the fixed sin-cos."""
    hf = random_hf_mae('w32')
    official = {
        k: v.to(dtype)
        for k, v in official_layout(hf.state_dict(), decoder).items()
    }
    keys = 'pos_embed/decoder_pos_embed' if decoder else 'pos_embed'
    plugin, report = convert_official_mae(official)
    assert pos_embed_notes(report) == [SINCOS_NOTE.format(keys)]
    _, report = convert_to_official_mae(plugin)
    assert pos_embed_notes(report) == [SINCOS_NOTE.format(keys)]


def test_a_fine_tuned_pos_embed_is_noted_as_learned():
    """Fine-tuning trains pos_embed (and its class row): its values are
    no sin-cos table, and the note says so, both ways."""
    hf = random_hf_mae('w32')
    official = fine_tuned(hf)
    official['pos_embed'] = (official['pos_embed'] +
                             0.02 * torch.randn_like(official['pos_embed']))
    learned = ['pos_embed copied as stored: learned values (as fine-tuning '
               'leaves them), not a fixed sin-cos table']
    plugin, report = convert_official_mae(official)
    assert pos_embed_notes(report) == learned
    _, report = convert_to_official_mae(plugin)
    assert pos_embed_notes(report) == learned
