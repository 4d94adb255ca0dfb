"""LinearProbeViT: mmpretrain's ViT frozen whole whatever its depth, or
its first ``frozen_stages`` blocks as mmpretrain's."""
import pytest
import torch
from mmpretrain.models import VisionTransformer

from mae_plugin.models import LinearProbeViT
from ..conftest import TINY_ARCH


def trainable(model):
    return [name for name, p in model.named_parameters() if p.requires_grad]


@pytest.mark.parametrize('num_layers', [1, 2, 13])
def test_all_freezes_every_weight_of_any_depth(num_layers):
    """A ViT-B linear probe's ``frozen_stages=12`` trained 12 blocks of a
    24-block encoder and failed on one of fewer than 12 blocks."""
    arch = dict(TINY_ARCH, num_layers=num_layers)
    model = LinearProbeViT(arch=arch, img_size=32, patch_size=8)
    assert model.frozen_stages == num_layers
    assert trainable(model) == []
    assert not any(layer.training for layer in model.layers)
    theirs = VisionTransformer(arch=arch, img_size=32, patch_size=8)
    assert list(model.state_dict()) == list(theirs.state_dict())
    model.load_state_dict(theirs.state_dict())
    theirs.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), theirs(x))


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2])
def test_an_int_freezes_as_mmpretrains_vit(frozen_stages):
    arch = dict(TINY_ARCH, num_layers=2)
    ours = LinearProbeViT(arch=arch, img_size=32, patch_size=8,
                          frozen_stages=frozen_stages)
    theirs = VisionTransformer(arch=arch, img_size=32, patch_size=8,
                               frozen_stages=frozen_stages)
    assert ours.frozen_stages == frozen_stages
    assert trainable(ours) == trainable(theirs)


@pytest.mark.parametrize('frozen_stages,error,message', [
    (3, ValueError, "frozen_stages must be 'all' or an int in [-1, 2] (the "
     "encoder's depth), got 3"),
    (-2, ValueError, "frozen_stages must be 'all' or an int in [-1, 2] (the "
     "encoder's depth), got -2"),
    ('ALL', TypeError, "frozen_stages must be 'all' or an int in [-1, 2] "
     "(the encoder's depth), got 'ALL'"),
    (True, TypeError, "frozen_stages must be 'all' or an int in [-1, 2] "
     "(the encoder's depth), got True"),
])
def test_frozen_stages_beyond_the_depth_is_refused_by_name(
        frozen_stages, error, message):
    """mmpretrain's ViT failed on 3 of 2 blocks with "IndexError: index 2
    is out of range"."""
    with pytest.raises(error) as caught:
        LinearProbeViT(arch=TINY_ARCH, img_size=32, patch_size=8,
                       frozen_stages=frozen_stages)
    assert str(caught.value) == message
