"""Linear probing's LARS: no trust ratio on biases and norms, as the
official ``util/lars.py`` (``lars_exclude``)."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from ..conftest import ROOT

LINEAR = osp.join(ROOT, 'configs', 'benchmarks', 'classification',
                  'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py')


def test_linear_probe_lars_adapts_weight_matrices_only():
    cfg = Config.fromfile(LINEAR)
    init_default_scope(cfg.default_scope)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    # a norm with affine parameters and a linear head
    model = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 3))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    flags = {
        tuple(g['params'][0].shape): g['lars_exclude']
        for g in wrapper.optimizer.param_groups
        if g['params'][0] is not model[0].bias
    }
    assert flags == {(8, ): True, (3, 8): False, (3, ): True}
    lr, eta = cfg.optim_wrapper.optimizer.lr, 1e-3  # LARS's default eta
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    wrapper.step()
    for p, old in zip(model.parameters(), before):
        step = old - p.detach()
        if p.ndim == 1:  # plain SGD step: lr x gradient
            torch.testing.assert_close(step, lr * p.grad)
        else:  # scaled by the trust ratio eta |w| / |g|
            ratio = eta * old.norm() / p.grad.norm()
            torch.testing.assert_close(step, lr * ratio * p.grad)
