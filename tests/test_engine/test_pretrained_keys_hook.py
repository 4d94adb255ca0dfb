import re
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmpretrain.models import VisionTransformer
from torch import nn

from mae_plugin.engine import PretrainedKeysHook
from mae_plugin.models import DenseViT
from mae_plugin.registry import build_model
from ..conftest import TINY_ARCH, tiny_mae_cfg


def test_min_matched_must_be_a_fraction():
    with pytest.raises(ValueError, match='min_matched'):
        PretrainedKeysHook(min_matched=1.5)


class Encoder(BaseModule):
    """Loads ``backbone.*`` when ``init_cfg`` gives no prefix."""
    default_pretrained_prefix = 'backbone.'

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.proj = nn.Linear(3, 2)
        self.norm = nn.LayerNorm(2)


def encoder_from_its_own_checkpoint(tmp_path):
    """``nn.Sequential(Encoder())`` whose ``init_cfg`` loads a checkpoint
    of its own weights under ``backbone.``; returns it and the path."""
    model = nn.Sequential(Encoder())
    path = str(tmp_path / 'mae.pth')
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in model[0].state_dict().items()}},
               path)
    model[0].init_cfg = dict(type='Pretrained', checkpoint=path)
    return model, path


def before_train(hook, model):
    runner = SimpleNamespace(
        iter=0, model=model,
        logger=MMLogger.get_instance('test_pretrained_keys_hook'))
    hook.before_train(runner)


def test_prefix_defaults_to_the_modules_own(tmp_path):
    model, path = encoder_from_its_own_checkpoint(tmp_path)
    hook = PretrainedKeysHook()
    before_train(hook, model)
    assert hook.reports['0'].matched == [
        'proj.weight', 'proj.bias', 'norm.weight', 'norm.bias'
    ]
    assert hook.reports['0'].changed == []


def test_each_pretrained_entry_of_a_list_is_checked(tmp_path):
    module = Encoder()
    good, bad = str(tmp_path / 'good.pth'), str(tmp_path / 'bad.pth')
    torch.save({'state_dict': module.state_dict()}, good)
    torch.save({'state_dict': {'encoder.' + k: v
                               for k, v in module.state_dict().items()}},
               bad)
    module.init_cfg = [
        dict(type='Kaiming', layer='Linear'),
        dict(type='Pretrained', checkpoint=good, prefix=''),
        dict(type='Pretrained', checkpoint=bad)
    ]
    hook = PretrainedKeysHook()
    with pytest.raises(ValueError) as error:
        before_train(hook, module)
    assert str(error.value) == (
        f"only 0 of the 4 keys of '[2]' are in {bad} under prefix "
        "'backbone.'; check the checkpoint, the prefix and the arch")
    assert len(hook.reports['[1]'].matched) == 4
    assert hook.reports['[2]'].missing == [
        'proj.weight', 'proj.bias', 'norm.weight', 'norm.bias'
    ]


def tiny_mae_checkpoint(tmp_path):
    """Path of a tiny MAE's pretraining checkpoint: patch 8 on 32x32, a
    4x4 grid."""
    path = str(tmp_path / 'mae.pth')
    torch.save({'state_dict': build_model(tiny_mae_cfg()).state_dict()},
               path)
    return path


def dense_vit_report(tmp_path, img_size):
    """A ``DenseViT`` of ``img_size`` (and ``pretrain_img_size``) loaded
    from :func:`tiny_mae_checkpoint` with its default prefix, and the
    hook's report of it."""
    model = DenseViT(arch=TINY_ARCH, img_size=img_size,
                     pretrain_img_size=img_size, patch_size=8,
                     init_cfg=dict(type='Pretrained',
                                   checkpoint=tiny_mae_checkpoint(tmp_path)))
    model.init_weights()
    hook = PretrainedKeysHook()
    before_train(hook, model)
    return model, hook.reports['']


def test_dense_vit_default_prefix(tmp_path):
    model, report = dense_vit_report(tmp_path, 32)
    assert len(report.matched) == len(model.state_dict())
    assert report.changed == []


def test_a_position_embedding_resized_as_it_loads_is_reported_resized(
        tmp_path):
    """mmpretrain's ViT fine-tuned at 48x48 from a 32x32 pretraining
    resizes its ``pos_embed`` as it loads: the report calls it resized
    (to the same values the ViT holds), not of another shape."""
    model = VisionTransformer(
        arch=TINY_ARCH, img_size=48, patch_size=8,
        init_cfg=dict(type='Pretrained',
                      checkpoint=tiny_mae_checkpoint(tmp_path),
                      prefix='backbone.'))
    model.init_weights()
    hook = PretrainedKeysHook()
    before_train(hook, model)
    report = hook.reports['']
    assert report.resized == ['pos_embed: bicubic resize (4, 4) -> (6, 6)']
    assert report.matched == list(model.state_dict())
    assert (report.mismatched, report.changed) == ([], [])


def test_a_dense_vit_fitting_its_embedding_as_it_loads_is_reported_resized(
        tmp_path):
    """``DenseViT`` fitting a 4x4 pretraining grid to its 8x8
    ``pretrain_img_size`` (as the segmentation configs, with
    ``pretrain_img_size`` the crop size) is reported resized and
    unchanged, not of another shape."""
    model, report = dense_vit_report(tmp_path, 64)
    assert report.resized == [
        'pos_embed: (1, 17, 32) -> (1, 65, 32) by DenseViT.adapt_pretrained'
    ]
    assert report.matched == list(model.state_dict())
    assert (report.mismatched, report.changed) == ([], [])


@pytest.mark.parametrize('kept', [1, 2])
def test_fewer_than_half_of_the_keys_stop_the_run(kept, tmp_path):
    """The default ``min_matched`` of 0.5: a checkpoint with 1 of the
    module's 4 keys stops the run, one with 2 of 4 passes."""
    module = Encoder()
    path = str(tmp_path / 'partial.pth')
    kept_keys = ['proj.weight', 'norm.weight'][:kept]
    torch.save({'state_dict': {k: module.state_dict()[k]
                               for k in kept_keys}}, path)
    module.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='')
    hook = PretrainedKeysHook()
    if kept == 1:  # the error names the checkpoint, in whatever words
        with pytest.raises(ValueError, match=re.escape(path)):
            before_train(hook, module)
    else:
        before_train(hook, module)
    assert hook.reports[''].matched == kept_keys


@pytest.mark.parametrize('frozen', [False, True])
def test_missing_keys_of_frozen_parameters_are_warned_of(frozen, tmp_path):
    """A linear probe of a checkpoint without the encoder's last norm (a
    fine-tuned one) kept the norm frozen at its initialisation, said only
    in the count line's list of missing keys."""
    module = Encoder()
    path = str(tmp_path / 'no_norm.pth')
    torch.save({'state_dict': {k: v for k, v in module.state_dict().items()
                               if k.startswith('proj.')}}, path)
    module.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='')
    module.requires_grad_(not frozen)
    logger = MMLogger.get_instance('test_pretrained_keys_hook')
    with pytest.MonkeyPatch.context() as patch:
        warnings = []
        patch.setattr(logger, 'warning', warnings.append)
        before_train(PretrainedKeysHook(), module)
    assert warnings == [
        f"keys of 'model' missing from {path} under prefix '' are frozen "
        'parameters, which keep their initialisation for the whole run: '
        'norm.weight, norm.bias'
    ] * frozen


def test_a_key_of_another_shape_stops_the_run(tmp_path):
    """Fine-tuning with 16x16 patches from a checkpoint pretrained with
    8x8 ones: the patch embedding was logged as mismatched and trained
    from its random initialisation (frozen so in a linear probe). The
    position embedding of the other grid is fitted as it loads and is
    not named."""
    path = tiny_mae_checkpoint(tmp_path)
    model = VisionTransformer(
        arch=TINY_ARCH, img_size=32, patch_size=16,
        init_cfg=dict(type='Pretrained', checkpoint=path,
                      prefix='backbone.'))
    model.init_weights()
    hook = PretrainedKeysHook()
    with pytest.raises(ValueError) as error:
        before_train(hook, model)
    assert str(error.value) == (
        f"keys of 'model' have another shape in {path} under prefix "
        "'backbone.' and were left as initialised: "
        'patch_embed.projection.weight: checkpoint (32, 3, 8, 8) vs model '
        '(32, 3, 16, 16). Check that the arch and the patch size are those '
        "of the pretrained model, or name the keys in PretrainedKeysHook's "
        'allow_mismatched')
    report = hook.reports['']
    assert report.resized == ['pos_embed: bicubic resize (4, 4) -> (2, 2)']


class Classifier(BaseModule):
    """An encoder and a linear head of ``num_classes``."""

    def __init__(self, num_classes, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.backbone = Encoder()
        self.head = nn.Linear(2, num_classes)


def test_allowed_keys_of_another_shape_pass(tmp_path):
    """A whole-model checkpoint (``prefix=None``) whose head was trained
    on 3 classes, not 2: the head's keys may be named, and only those."""
    path = str(tmp_path / 'classifier.pth')
    torch.save({'state_dict': Classifier(3).state_dict()}, path)
    model = Classifier(
        2, init_cfg=dict(type='Pretrained', checkpoint=path, prefix=None))
    hook = PretrainedKeysHook(allow_mismatched=['head.weight', 'head.bias'])
    before_train(hook, model)
    assert hook.reports[''].mismatched == ['head.weight', 'head.bias']
    assert len(hook.reports[''].matched) == 4
    with pytest.raises(ValueError) as error:
        before_train(PretrainedKeysHook(allow_mismatched=('head.weight', )),
                     model)
    assert str(error.value) == (
        f"keys of 'model' have another shape in {path} under prefix None "
        'and were left as initialised: head.bias: checkpoint (3,) vs model '
        '(2,). Check that the arch and the patch size are those of the '
        "pretrained model, or name the keys in PretrainedKeysHook's "
        'allow_mismatched')


def test_allow_mismatched_must_be_key_names():
    with pytest.raises(TypeError) as error:
        PretrainedKeysHook(allow_mismatched='head.fc.weight')
    assert str(error.value) == ('allow_mismatched must be a list or tuple '
                                "of key names, got 'head.fc.weight'")


class Whole(BaseModule):
    """A model whose encoder is ``backbone``, loaded with ``prefix=None``
    (a whole-model checkpoint)."""

    def __init__(self, num_layers, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.backbone = VisionTransformer(
            arch=dict(TINY_ARCH, num_layers=num_layers), img_size=32,
            patch_size=8)


@pytest.mark.parametrize('whole', [False, True])
@pytest.mark.parametrize('num_layers', [1, 3])
def test_an_encoder_deeper_than_the_checkpoints_stops_the_run(
        num_layers, whole, tmp_path):
    """Fine-tuning (or linearly probing) a 3-block encoder from a 2-block
    checkpoint: 30 of its 42 keys match, more than half, and its last
    block was trained (in a linear probe: frozen) from its random
    initialisation. As DenseViT, the hook refuses a checkpoint of fewer
    blocks; one of more blocks (a shallower encoder) passes, its extra
    blocks reported unexpected."""
    path = tiny_mae_checkpoint(tmp_path)
    if whole:
        model = Whole(num_layers, init_cfg=dict(
            type='Pretrained', checkpoint=path, prefix=None))
    else:
        model = VisionTransformer(
            arch=dict(TINY_ARCH, num_layers=num_layers), img_size=32,
            patch_size=8, init_cfg=dict(type='Pretrained', checkpoint=path,
                                        prefix='backbone.'))
    model.init_weights()
    hook = PretrainedKeysHook()
    if num_layers == 1:
        before_train(hook, model)
        assert any('layers.1.' in key for key in hook.reports[''].unexpected)
        return
    with pytest.raises(ValueError) as error:
        before_train(hook, model)
    prefix = None if whole else 'backbone.'
    assert str(error.value) == (
        f'{path} under prefix {prefix!r} holds an encoder of 2 blocks and '
        "'model' has 3: blocks 2 to 2 would be left as initialised; give it "
        'the arch of the pretrained encoder')
    assert len(hook.reports[''].matched) * 2 > len(model.state_dict())
