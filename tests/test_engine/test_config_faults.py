"""Config faults in the plugin's hooks, scheduler and optimizer
constructor are named when the config is built, not silently taken or
met later in the run (a checkpoint hook's typo at its first save)."""
import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mae_plugin.engine import accumulative_counts
from mae_plugin.registry import (HOOKS, OPTIM_WRAPPER_CONSTRUCTORS,
                                 PARAM_SCHEDULERS)


def optim_wrapper_cfg(**paramwise_cfg):
    return dict(
        optim_wrapper_cfg=dict(
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        paramwise_cfg=paramwise_cfg)


def scheduler_cfg(eta_min):
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    return dict(
        optimizer=OptimWrapper(optimizer), eta_min=eta_min, T_max=10,
        end=10)


@pytest.mark.parametrize('registry, name, cfg, exception, message', [
    # mmengine hands unknown keywords to runner.save_checkpoint: the run
    # failed at its first save, or (interval=-1) at its very end
    (HOOKS, 'AtomicCheckpointHook', dict(interval=1, max_keep_ckpt=3),
     TypeError, r"unexpected keyword argument\(s\) \['max_keep_ckpt'\]"),
    (HOOKS, 'AtomicCheckpointHook', dict(intervl=1), TypeError,
     r"unexpected keyword argument\(s\) \['intervl'\]"),
    # 0 never saved; '1' failed at the first iteration with a bare '>'
    (HOOKS, 'AtomicCheckpointHook', dict(interval=0), ValueError,
     r'interval \(or -1: never\) must be an int >= 1, got 0'),
    (HOOKS, 'AtomicCheckpointHook', dict(interval='1'), TypeError,
     r'interval \(or -1: never\) must be an int >= 1'),
    # failed in before_train with a bare '>' naming no key
    (HOOKS, 'AtomicCheckpointHook', dict(interval=1, max_keep_ckpts='3'),
     TypeError, "max_keep_ckpts must be an int, got '3'"),
    # one name for every step: each save deleted the file it had just
    # written as the oldest kept, leaving no checkpoint (exit status 0)
    (HOOKS, 'AtomicCheckpointHook',
     dict(interval=1, filename_tmpl='ckpt.pth'), ValueError,
     r"filename_tmpl must hold '\{\}' for the step, as 'epoch_\{\}\.pth' "
     r"does, got 'ckpt\.pth': every checkpoint would have that one name"),
    (HOOKS, 'AtomicCheckpointHook',
     dict(interval=1, filename_tmpl='ckpt_{step}.pth'), ValueError,
     r"filename_tmpl must take the step in '\{\}', got 'ckpt_\{step\}\.pth' "
     r"\(KeyError: 'step'\)"),
    # the string 'no' was truthy: a misfit checkpoint loaded partly
    (HOOKS, 'CheckpointFitHook', dict(allow_partial='no'), TypeError,
     "allow_partial must be True or False, got 'no'"),
    (HOOKS, 'PretrainedKeysHook', dict(min_matched='0.5'), TypeError,
     r'min_matched must be a number in \[0, 1\]'),
    # a negative floor made the lr negative: gradient ascent
    (PARAM_SCHEDULERS, 'GroupFloorCosineAnnealingLR', scheduler_cfg(-1e-6),
     ValueError, r'eta_min must be a number in \[0, inf\], got -1e-06'),
    (PARAM_SCHEDULERS, 'GroupFloorCosineAnnealingLR', scheduler_cfg('0'),
     TypeError, 'eta_min must be a number'),
    # mmpretrain ignored a misspelled key: no layer decay at all
    (OPTIM_WRAPPER_CONSTRUCTORS, 'LayerDecayOptimWrapperConstructor',
     optim_wrapper_cfg(layer_decay=0.65), ValueError,
     r"paramwise_cfg keys must be among .*, got \['layer_decay'\]"),
    # copied into the param group, where nothing read it: lr unchanged
    (OPTIM_WRAPPER_CONSTRUCTORS, 'LayerDecayOptimWrapperConstructor',
     optim_wrapper_cfg(custom_keys={'backbone': dict(lr_mult=0.1)}),
     ValueError, r"paramwise_cfg.custom_keys\['backbone'\] options must be "
     r"among \('decay_mult',\), got \['lr_mult'\]"),
    (OPTIM_WRAPPER_CONSTRUCTORS, 'LayerDecayOptimWrapperConstructor',
     optim_wrapper_cfg(layer_decay_rate=0), ValueError,
     r'paramwise_cfg.layer_decay_rate must be a number in \(0, 1\]'),
    (OPTIM_WRAPPER_CONSTRUCTORS, 'LayerDecayOptimWrapperConstructor',
     optim_wrapper_cfg(layer_decay_rate=1.5), ValueError,
     r'paramwise_cfg.layer_decay_rate must be a number in \(0, 1\]'),
])
def test_wrong_argument_is_named(registry, name, cfg, exception, message):
    with pytest.raises(exception, match=message):
        registry.build(dict(type=f'mae_plugin.{name}', **cfg))


@pytest.mark.parametrize('interval', [-1, 1, 5])
def test_checkpoint_hook_takes_valid_intervals(interval):
    hook = HOOKS.build(
        dict(type='mae_plugin.AtomicCheckpointHook', interval=interval,
             max_keep_ckpts=3, save_last=False))
    assert hook.interval == interval


def test_accumulation_of_several_optimizers_is_one_count_or_named():
    """An ``OptimWrapperDict`` (one optimizer per part) has one effective
    batch only when its wrappers accumulate over the same count."""
    def wrapper(counts):
        optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(),
                                    lr=0.1)
        return OptimWrapper(optimizer, accumulative_counts=counts)

    assert accumulative_counts(wrapper(4)) == 4
    assert accumulative_counts(
        OptimWrapperDict(encoder=wrapper(4), decoder=wrapper(4))) == 4
    with pytest.raises(ValueError, match=r'^optim_wrapper: the optimizers '
                       r'accumulate over different accumulative_counts '
                       r'\[2, 4\]$'):
        accumulative_counts(
            OptimWrapperDict(encoder=wrapper(4), decoder=wrapper(2)))
