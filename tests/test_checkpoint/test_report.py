"""compare_with_checkpoint: every key of a module and of its checkpoint
sorted into one LoadReport."""
import torch
from torch import nn

from mae_plugin.checkpoint import LoadReport, compare_with_checkpoint


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
    assert report == LoadReport(
        matched=['0.weight', '0.bias'],
        changed=['0.bias'],
        missing=['1.bias'],
        unexpected=['2.weight'],
        mismatched=['1.weight'],
        shapes={'1.weight': ((5, ), (2, ))})

    torch.save({'state_dict': {
        'encoder.' + k: v
        for k, v in state.items()
    }}, path)
    assert compare_with_checkpoint(module, path,
                                   'encoder.').matched == report.matched
