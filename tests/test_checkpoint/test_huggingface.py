"""Parity with Hugging Face's ViTMAE: same weights, input and noise give
the same loss, predictions, mask and gradients."""
import pytest
import torch
from transformers import ViTMAEForPreTraining, ViTMAEModel

from mae_plugin.checkpoint import (convert_hf_vitmae, convert_to_hf_vitmae,
                                   hf_vitmae_config, load_weights,
                                   mae_config_from_hf)
from mae_plugin.models import mae_config
from .helpers import build_plugin, hf_config, random_hf_mae, randomize

TOL = dict(rtol=0, atol=1e-5)


def converted_pair(arch, norm_pix):
    hf = random_hf_mae(arch, norm_pix)
    state_dict, report = convert_hf_vitmae(hf.state_dict())
    assert report.missing == [] and report.unexpected == []
    plugin = build_plugin(mae_config_from_hf(hf.config))
    loaded = load_weights(plugin, state_dict, strict=True)
    assert len(loaded.matched) == len(plugin.state_dict())
    return hf, plugin


@pytest.mark.parametrize('arch', ['w32', 'w48'])
@pytest.mark.parametrize('norm_pix', [True, False])
def test_loss_predictions_mask_and_gradients_match(arch, norm_pix):
    hf, plugin = converted_pair(arch, norm_pix)
    size = hf.config.image_size
    num_patches = (size // hf.config.patch_size)**2
    x = torch.randn(3, 3, size, size)
    noise = torch.rand(3, num_patches)

    out = hf(pixel_values=x, noise=noise)
    pred, mask = plugin.reconstruct(x, noise=noise)
    loss = plugin.head.loss(pred, x, mask)['loss']

    assert torch.equal(mask, out.mask)
    assert mask.sum() == 3 * (num_patches - int(num_patches * 0.25))
    torch.testing.assert_close(pred, out.logits, **TOL)
    torch.testing.assert_close(loss, out.loss, **TOL)
    assert loss.item() > 0.1  # a real loss, not a trivially equal zero

    out.loss.backward()
    loss.backward()
    hf_grads = {
        k: p.grad
        for k, p in hf.named_parameters() if p.grad is not None
    }
    grads, _ = convert_hf_vitmae(hf_grads)
    plugin_grads = {
        k: p.grad
        for k, p in plugin.named_parameters() if p.grad is not None
    }
    # every trainable tensor: all but the two fixed position embeddings
    assert set(grads) == set(plugin_grads)
    assert len(grads) == len(plugin.state_dict()) - 2
    for key, grad in plugin_grads.items():
        torch.testing.assert_close(grad, grads[key], **TOL, msg=key)


@pytest.mark.parametrize('arch', ['w32', 'w48'])
def test_state_dict_round_trips_exactly(arch):
    hf = random_hf_mae(arch)
    plugin_sd, _ = convert_hf_vitmae(hf.state_dict())
    back, report = convert_to_hf_vitmae(plugin_sd)
    assert report.missing == [] and report.unexpected == []
    original = hf.state_dict()
    assert set(back) == set(original)
    for key, value in original.items():
        assert torch.equal(back[key], value), key


def test_encoder_only_model_converts_to_the_backbone():
    torch.manual_seed(0)
    hf = ViTMAEModel(hf_config('w32')).eval()
    state_dict, report = convert_hf_vitmae(hf.state_dict())
    assert report.parts == ['encoder (depth 2)']
    assert all(k.startswith('backbone.') for k in state_dict)
    plugin = build_plugin(mae_config_from_hf(hf.config))
    loaded = load_weights(plugin, state_dict)
    assert len(loaded.matched) == len(state_dict) == 4 + 2 * 12 + 2
    assert all(k.startswith('neck.') for k in loaded.missing)

    x, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    latent, mask, _ = plugin.backbone(x, noise=noise)
    out = hf(pixel_values=x, noise=noise)
    torch.testing.assert_close(latent, out.last_hidden_state, **TOL)
    assert torch.equal(mask, out.mask)

    back, _ = convert_to_hf_vitmae(state_dict, pretraining=False)
    assert set(back) == set(hf.state_dict())


def test_layer_norm_eps_of_the_hf_config_is_kept():
    """A config with Hugging Face's default eps 1e-12 (not the plugin's
    1e-6) builds a plugin model with that eps in every layer norm, as the
    Hugging Face model built from it."""
    config = hf_config('w32')
    config.layer_norm_eps = 1e-12

    def eps(model):
        return sorted(m.eps for m in model.modules()
                      if isinstance(m, torch.nn.LayerNorm))

    hf_eps = eps(ViTMAEForPreTraining(config))
    assert set(hf_eps) == {1e-12}
    assert eps(build_plugin(mae_config_from_hf(config))) == hf_eps


@pytest.mark.parametrize('width,hidden', [(44, 60), (224, 488), (32, 128)])
def test_decoder_mlp_width_of_the_hf_config_is_kept(width, hidden):
    """The decoder's MLPs get HF's ``decoder_intermediate_size`` units,
    also where ``hidden / width * width`` floors one short (60 for 44,
    488 for 224), so its weights load strictly."""
    config = hf_config('w32')
    config.decoder_hidden_size = width
    config.decoder_num_attention_heads = 4
    config.decoder_intermediate_size = hidden
    hf = ViTMAEForPreTraining(config)
    plugin = build_plugin(mae_config_from_hf(config))
    state_dict, _ = convert_hf_vitmae(hf.state_dict())
    loaded = load_weights(plugin, state_dict, strict=True)
    assert len(loaded.matched) == len(plugin.state_dict())
    assert {block.ffn.layers[0][0].out_features
            for block in plugin.neck.decoder_blocks} == {hidden}


def test_config_with_another_activation_is_refused():
    config = hf_config('w32')
    config.hidden_act = 'relu'
    with pytest.raises(ValueError, match='hidden_act'):
        mae_config_from_hf(config)


def test_foreign_state_dict_is_refused():
    with pytest.raises(ValueError, match='Hugging Face'):
        convert_hf_vitmae({'conv1.weight': torch.zeros(1)})


@pytest.mark.parametrize('norm_pix', [True, False])
def test_the_config_normalises_images_as_hugging_face_does(norm_pix):
    """One uint8 image, through Hugging Face's image processor (ImageNet
    mean and std, RGB) and through the data preprocessor of the model
    :func:`mae_config_from_hf` configures (fed BGR, as the plugin's loaders
    give it): the same loss for the same noise."""
    from transformers import ViTImageProcessor
    hf, plugin = converted_pair('w32', norm_pix)
    size = hf.config.image_size
    generator = torch.Generator().manual_seed(3)
    rgb = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8,
                        generator=generator)
    noise = torch.rand(1, (size // hf.config.patch_size)**2,
                       generator=generator)
    processor = ViTImageProcessor(
        do_resize=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225])
    pixels = processor(images=rgb.numpy(), return_tensors='pt')
    bgr = rgb.flip(-1).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        hf_loss = hf(pixel_values=pixels['pixel_values'], noise=noise).loss
        inputs = plugin.data_preprocessor(
            dict(inputs=bgr, data_samples=None), False)['inputs']
        torch.testing.assert_close(
            inputs, pixels['pixel_values'], rtol=0, atol=1e-5)
        pred, mask = plugin.reconstruct(inputs, noise=noise)
        loss = plugin.head.loss(pred, inputs, mask)['loss']
    torch.testing.assert_close(loss, hf_loss, rtol=1e-5, atol=1e-7)


def test_a_config_of_other_than_three_channels_needs_a_preprocessor():
    config = hf_config('w32')
    config.num_channels = 1
    with pytest.raises(ValueError, match='num_channels=1.*data_preprocessor'):
        mae_config_from_hf(config)
    grey = dict(type='SelfSupDataPreprocessor', mean=[72.5], std=[90.0])
    model = build_plugin(mae_config_from_hf(config, grey))
    assert model.backbone.in_channels == 1
    assert model.data_preprocessor.mean.flatten().tolist() == [72.5]


@pytest.mark.parametrize('arch,in_channels', [
    (dict(embed_dims=32, num_layers=2, num_heads=4, feedforward_channels=64),
     1),
    ('deit-tiny', 3),
])
def test_hf_config_of_a_plugin_model_takes_its_arguments(arch, in_channels):
    """The arguments of :func:`mae_config` (an arch name, in_channels)
    give the Hugging Face model that loads the plugin's weights strictly
    and computes its loss."""
    decoder = dict(embed_dims=16, num_layers=1, num_heads=2)
    plugin = build_plugin(
        mae_config(arch, 32, 8, in_channels=in_channels, decoder=decoder))
    plugin.init_weights()
    randomize(plugin)
    config = hf_vitmae_config(
        arch, 32, 8, decoder, in_channels=in_channels)
    assert config.num_channels == in_channels
    assert not hasattr(config, 'in_channels')
    hf = ViTMAEForPreTraining(config).eval()
    state_dict, _ = convert_to_hf_vitmae(plugin.state_dict())
    hf.load_state_dict(state_dict, strict=True)
    x, noise = torch.randn(2, in_channels, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        out = hf(pixel_values=x, noise=noise)
        pred, mask = plugin.reconstruct(x, noise=noise)
        loss = plugin.head.loss(pred, x, mask)['loss']
    torch.testing.assert_close(pred, out.logits, **TOL)
    torch.testing.assert_close(loss, out.loss, **TOL)


def test_hf_config_takes_the_eps_of_norm_cfg():
    config = hf_vitmae_config('deit-tiny', 32, 8,
                              norm_cfg=dict(type='LN', eps=1e-5))
    assert config.layer_norm_eps == 1e-5
    assert hf_vitmae_config('deit-tiny', 32, 8).layer_norm_eps == 1e-6
    # without a type, as the models take it: over the default LN
    assert hf_vitmae_config('deit-tiny', 32, 8, norm_cfg=dict(
        eps=1e-5)).layer_norm_eps == 1e-5


@pytest.mark.parametrize('kwargs,message', [
    (dict(data_preprocessor=dict(mean=[0.] * 3)), 'data_preprocessor'),
    (dict(img_size=(32, 48)), r'img_size=\(32, 48\).*square'),
    (dict(norm_cfg=dict(type='BN')), "norm_cfg=.*'BN'"),
    (dict(decoder=dict(embed_dims=16, init_cfg=None)),
     r"decoder keys \['init_cfg'\]"),
    (dict(decoder=dict(norm_cfg=dict(type='LN', eps=1e-5))),
     'a ViTMAEConfig has one layer_norm_eps'),
    (dict(num_channels=1), r"\['num_channels'\].*in_channels"),
])
def test_hf_config_refuses_what_it_cannot_hold_by_name(kwargs, message):
    kwargs = dict(dict(arch='deit-tiny', img_size=32, patch_size=8),
                  **kwargs)
    with pytest.raises(ValueError, match=message):
        hf_vitmae_config(**kwargs)
