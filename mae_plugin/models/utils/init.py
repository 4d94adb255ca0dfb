"""Weight initialisation of the MAE paper's code."""
from typing import Dict

from torch import nn


def init_mae_weights(module: nn.Module) -> None:
    """Xavier-uniform every Linear (zero bias), LayerNorm to weight 1 and
    bias 0, over ``module`` and all its children."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_patch_projection(conv: nn.Conv2d) -> None:
    """Xavier-uniform the patch projection viewed as a ``[D, C*p*p]``
    matrix.

    Its bias is left as ``Conv2d`` drew it, ``U(-1/sqrt(C*p*p),
    1/sqrt(C*p*p))``: the official code re-initialises only the weight of
    its (timm) patch convolution, and so does mmpretrain's MAE.
    """
    w = conv.weight.data
    nn.init.xavier_uniform_(w.view(w.shape[0], -1))


def pretrained_entries(init_cfg) -> Dict[int, dict]:
    """The ``type='Pretrained'`` entries of an ``init_cfg`` (a dict or a
    list of them), by their index in the list (0 for a dict)."""
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return {
        i: cfg
        for i, cfg in enumerate(cfgs)
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
    }


def is_pretrained_init(init_cfg) -> bool:
    """Whether an ``init_cfg`` loads weights instead of initialising."""
    return bool(pretrained_entries(init_cfg))

