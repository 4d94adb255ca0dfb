"""Any model's ``init_cfg=dict(type='Pretrained')`` logs its key count once
the plugin is imported (as ``custom_imports`` does)."""
import logging
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from mae_plugin.engine import PretrainedKeysHook
from mae_plugin.registry import build_model
from ..conftest import tiny_mae_cfg
from .helpers import official_layout, random_hf_mae
from ..test_engine.test_pretrained_keys_hook import (
    Encoder, encoder_from_its_own_checkpoint)


class Messages(logging.Handler):
    """Collects the messages of level INFO and above logged to it."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def logged_by(call, logger=None):
    """The messages ``logger`` (the current one by default) logs during
    ``call()``."""
    logger, handler = logger or MMLogger.get_current_instance(), Messages()
    logger.addHandler(handler)
    try:
        call()
    finally:
        logger.removeHandler(handler)
    return handler.messages


def tiny_vit(checkpoint, prefix, img_size=32):
    """mmpretrain's ViT (config) of ``tiny_mae_cfg``'s encoder, 8-pixel
    patches, initialised from ``checkpoint`` under ``prefix``."""
    return dict(
        type='VisionTransformer',
        arch=dict(embed_dims=32, num_layers=2, num_heads=4,
                  feedforward_channels=64),
        img_size=img_size,
        patch_size=8,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                      prefix=prefix))


def test_mmpretrain_classifier_logs_the_count(tmp_path):
    path = str(tmp_path / 'epoch_30.pth')
    torch.save({'state_dict': build_model(tiny_mae_cfg()).state_dict()},
               path)
    # an mmpretrain config of the user's own: mmpretrain scope and types
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MMPRETRAIN_MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=tiny_vit(path, 'backbone.'),
                head=dict(type='LinearClsHead', num_classes=2,
                          in_channels=32)))
        messages = logged_by(classifier.init_weights)
    assert (f"VisionTransformer: 30 of 30 keys matched in {path} (prefix "
            "'backbone.')") in messages


def test_a_checkpoint_without_the_prefix_is_named_with_its_layout(
        tmp_path):
    """mmengine raised ``AssertionError: backbone. is not in the
    pretrained model``, naming neither the file nor its layout."""
    official = official_layout(random_hf_mae('w32').state_dict(),
                               decoder=False)
    official_path = str(tmp_path / 'mae_pretrain_vit.pth')
    torch.save({'model': official}, official_path)
    plugin = build_model(tiny_mae_cfg()).state_dict()
    plugin_path = str(tmp_path / 'epoch_30.pth')
    torch.save({'state_dict': plugin}, plugin_path)
    for path, weights, prefix, hint in [
        (official_path, official, 'backbone.',
         ' (its keys are in the official layout: '
         'tools/model_converters/convert_checkpoint.py converts it)'),
        (plugin_path, plugin, 'model', '')
    ]:
        vit = MMPRETRAIN_MODELS.build(tiny_vit(path, prefix))
        with pytest.raises(ValueError) as error:
            vit.init_weights()
        assert str(error.value) == (
            f'init_cfg Pretrained of VisionTransformer: {path} has no key '
            f"under prefix {prefix.rstrip('.') + '.'!r} (first keys: "
            f'{list(weights)[:3]}){hint}')


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_whole_file_counts_wrapped_keys_and_names_other_shapes(
        tmp_path, scope):
    module = Encoder()
    path = str(tmp_path / 'model.pth')
    weights = {f'module.{k}': v for k, v in module.state_dict().items()}
    weights['module.norm.bias'] = torch.zeros(5)
    del weights['module.norm.weight']
    torch.save({'state_dict': weights}, path)
    module.init_cfg = dict(type='Pretrained', checkpoint=path)
    with DefaultScope.overwrite_default_scope(scope):
        messages = logged_by(module.init_weights)
    assert (f'Encoder: 2 of 4 keys matched in {path} (prefix None); '
            "mismatched: ['norm.bias']") in messages
    assert torch.equal(module.proj.weight, weights['module.proj.weight'])


def test_an_empty_prefix_takes_the_whole_file(tmp_path):
    """As the plugin's loaders and PretrainedKeysHook read it; mmengine
    looked for keys under '.' and found none."""
    module = Encoder()
    path = str(tmp_path / 'encoder.pth')
    weights = {k: torch.randn_like(v) for k, v in module.state_dict().items()}
    torch.save({'state_dict': weights}, path)
    module.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='')
    assert (f"Encoder: 4 of 4 keys matched in {path} (prefix '')"
            in logged_by(module.init_weights))
    assert all(torch.equal(value, weights[key])
               for key, value in module.state_dict().items())


def test_hook_message_ends_with_the_count_when_all_match(tmp_path):
    model, path = encoder_from_its_own_checkpoint(tmp_path)
    logger = MMLogger.get_instance('test_hook_message')
    runner = SimpleNamespace(iter=0, model=model, logger=logger)
    messages = logged_by(lambda: PretrainedKeysHook().before_train(runner),
                         logger)
    assert messages == [
        f"0: 4 of 4 keys matched in {path} (prefix 'backbone.')"
    ]


def test_initializer_and_hook_log_one_format(tmp_path):
    """A fine-tuning run logs a load twice, as the module is initialised
    and as training starts: both lines count the matched keys and name
    the keys of another shape the same way."""
    model = Encoder()
    path = str(tmp_path / 'encoder.pth')
    weights = dict(model.state_dict(), **{'norm.bias': torch.zeros(5)})
    torch.save({'state_dict': weights}, path)
    model.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='')
    logger = MMLogger.get_instance('test_one_format')
    runner = SimpleNamespace(iter=0, model=model, logger=logger)
    hook = PretrainedKeysHook(allow_mismatched=['norm.bias'])
    messages = logged_by(model.init_weights) + logged_by(
        lambda: hook.before_train(runner), logger)
    line = (f"3 of 4 keys matched in {path} (prefix ''); "
            "mismatched: ['norm.bias']")
    assert f'Encoder: {line}' in messages
    assert messages[-1] == f'model: {line}'


def test_a_position_embedding_resized_as_it_loads_counts_as_matched(
        tmp_path):
    """mmpretrain's ViT fine-tuned at 48x48 from a 32x32 pretraining
    resizes its ``pos_embed`` as it loads: the line counts it matched and
    names it resized, as PretrainedKeysHook's line does at the start of
    training (it read '29 of 30 keys matched; mismatched: ['pos_embed']',
    a table that was loaded)."""
    path = str(tmp_path / 'epoch_30.pth')
    torch.save({'state_dict': build_model(tiny_mae_cfg()).state_dict()},
               path)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        vit = MMPRETRAIN_MODELS.build(
            tiny_vit(path, 'backbone.', img_size=48))
        messages = logged_by(vit.init_weights)
    line = (f"30 of 30 keys matched in {path} (prefix 'backbone.'); "
            "resized: ['pos_embed: bicubic resize (4, 4) -> (6, 6)']")
    assert f'VisionTransformer: {line}' in messages
    logger = MMLogger.get_instance('test_resized_line')
    runner = SimpleNamespace(iter=0, model=vit, logger=logger)
    assert logged_by(lambda: PretrainedKeysHook().before_train(runner),
                     logger)[-1] == f'model: {line}'
