import pytest
import torch
from torch import nn

from mae_plugin.engine import PretrainedKeysHook, compare_with_checkpoint


def test_compare_with_checkpoint_sorts_every_key(tmp_path):
    module = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    path = str(tmp_path / 'ckpt.pth')
    state = {k: v.clone() for k, v in module.state_dict().items()}
    del state['1.bias']
    state['2.weight'] = torch.ones(2)
    state['1.weight'] = torch.ones(5)
    torch.save({'state_dict': state}, path)
    with torch.no_grad():
        module[0].bias.add_(1.)

    report = compare_with_checkpoint(module, path)
    assert report == dict(
        matched=['0.weight', '0.bias'],
        changed=['0.bias'],
        missing=['1.bias'],
        unexpected=['2.weight'],
        shape_mismatch=['1.weight'])

    torch.save({'state_dict': {
        'encoder.' + k: v
        for k, v in state.items()
    }}, path)
    assert compare_with_checkpoint(module, path,
                                   'encoder.')['matched'] == report['matched']


def test_min_matched_must_be_a_fraction():
    with pytest.raises(ValueError, match='min_matched'):
        PretrainedKeysHook(min_matched=1.5)
