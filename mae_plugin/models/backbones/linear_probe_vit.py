"""The encoder of a linear probe: mmpretrain's ViT, frozen whole."""
from numbers import Integral
from typing import Any, Union

from mmpretrain.models import VisionTransformer

from mae_plugin.registry import MODELS


def frozen_stages_of(value: Any, depth: int) -> int:
    """The number of blocks ``frozen_stages=value`` freezes in an encoder
    of ``depth`` blocks: ``depth`` for ``'all'``, else ``value`` itself.

    Raises:
        TypeError: ``value`` is neither ``'all'`` nor an int.
        ValueError: an int outside [-1, ``depth``].
    """
    if isinstance(value, str) and value == 'all':
        return depth
    rule = f"'all' or an int in [-1, {depth}] (the encoder's depth)"
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f'frozen_stages must be {rule}, got {value!r}')
    if not -1 <= value <= depth:
        raise ValueError(f'frozen_stages must be {rule}, got {value}')
    return int(value)


@MODELS.register_module()
class LinearProbeViT(VisionTransformer):
    """:class:`mmpretrain.models.VisionTransformer` whose ``frozen_stages``
    also takes ``'all'``, its default: the patch embedding, class token,
    positions, every block and the final norms are frozen (``eval`` mode,
    no gradient), whatever the depth ``arch`` gives, so a linear probe
    configured with ``arch='large'`` or a shallower encoder still trains
    its head only. mmpretrain's ViT takes the number of blocks, which a
    config written for ViT-B (``frozen_stages=12``) gets wrong for any
    other depth: ViT-L trained half its blocks, and a depth below 12
    failed with an ``IndexError``. Same keys and forward as mmpretrain's.

    Args:
        *args: Positional arguments of
            :class:`mmpretrain.models.VisionTransformer` (``arch``,
            ``img_size``, ``patch_size`` ...).
        frozen_stages (str | int): ``'all'``, or the number of first blocks
            to freeze with the embeddings, as mmpretrain's (``-1`` and 0
            freeze nothing; the depth freezes the final norms too), in
            [-1, depth]. Defaults to ``'all'``.
        **kwargs: Keyword arguments of
            :class:`mmpretrain.models.VisionTransformer`.

    Raises:
        TypeError: ``frozen_stages`` is neither ``'all'`` nor an int.
        ValueError: ``frozen_stages`` is an int outside [-1, depth].
    """

    def __init__(self,
                 *args,
                 frozen_stages: Union[str, int] = 'all',
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.frozen_stages = frozen_stages_of(frozen_stages,
                                              len(self.layers))
        if self.frozen_stages > 0:
            self._freeze_stages()
