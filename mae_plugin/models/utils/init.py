"""Weight initialisation of the MAE paper's code."""
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
    """Xavier-uniform the patch projection viewed as a
    ``[D, C*p*p]`` matrix, zero bias."""
    w = conv.weight.data
    nn.init.xavier_uniform_(w.view(w.shape[0], -1))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def is_pretrained_init(init_cfg) -> bool:
    """Whether an ``init_cfg`` loads weights instead of initialising."""
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return any(
        isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
        for cfg in cfgs)

