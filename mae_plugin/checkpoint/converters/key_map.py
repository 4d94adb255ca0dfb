"""Key maps between the plugin's state dict and other layouts of the same
ViT / MAE weights, and the bookkeeping of a conversion.

A layout is a tuple of :class:`Part` (encoder, final norm, decoder,
classifier ...). Each part lists :class:`Rule` objects: one tensor of the
plugin and the foreign tensor(s) that hold the same weights. Rules inside
Transformer blocks carry an ``{i}`` placeholder and are repeated for every
block found in the source. The same table converts both ways, so a
round trip is exact by construction.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Sequence, Tuple

import torch
from mmengine.utils import ProgressBar

from ..report import StateDict, summarize

#: Modules of one plugin (mmpretrain) Transformer block, in order.
PLUGIN_BLOCK = ('ln1', 'attn.qkv', 'attn.proj', 'ln2', 'ffn.layers.0.0',
                'ffn.layers.1')
#: The same modules as timm (and the official MAE code) name them.
TIMM_BLOCK = ('norm1', 'attn.qkv', 'attn.proj', 'norm2', 'mlp.fc1', 'mlp.fc2')
#: Parts of a plugin state dict that another layout may not have (an
#: encoder-only model has no decoder, ViTDet no class token), by key
#: prefixes: leaving them out is reported as dropped, not as a problem.
#: Another neck (a linear probe's BatchNorm) is no decoder: a layout
#: without a place for it reports its keys as unexpected.
PLUGIN_PARTS = (('decoder', ('neck.mask_token', 'neck.decoder_')),
                ('class token', ('backbone.cls_token', )),
                ('final norm', ('backbone.ln1.', )),
                ('fc_norm', ('backbone.ln2.', )),
                ('classifier head', ('head.', )))


@dataclass(frozen=True)
class Rule:
    """One plugin tensor and the foreign tensors that hold it.

    Args:
        plugin (str): Plugin key.
        foreign (tuple[str]): Foreign keys; several ones (query, key,
            value) are concatenated along dim 0 into the plugin tensor and
            split back in the other direction.
    """
    plugin: str
    foreign: Tuple[str, ...]

    def format(self, i: int) -> 'Rule':
        """The rule of block ``i``."""
        return Rule(
            self.plugin.format(i=i),
            tuple(k.format(i=i) for k in self.foreign))


def module_rules(
    pairs: Iterable[Tuple[str, object]],
    params: Sequence[str] = ('weight', 'bias')
) -> List[Rule]:
    """Rules for whole modules: ``weight`` and ``bias`` of each pair.

    Args:
        pairs: ``(plugin module, foreign module or tuple of modules)``.
        params (Sequence[str]): Parameter names of every module.
            Defaults to ``('weight', 'bias')``.
    """
    rules = []
    for plugin, foreign in pairs:
        foreign = (foreign, ) if isinstance(foreign, str) else foreign
        for param in params:
            rules.append(
                Rule(f'{plugin}.{param}',
                     tuple(f'{name}.{param}' for name in foreign)))
    return rules


def block_rules(plugin_prefix: str, foreign_prefix: str,
                foreign_modules: Sequence[object]) -> List[Rule]:
    """Rules of a Transformer block from its foreign module names, given in
    the order of :data:`PLUGIN_BLOCK`; prefixes contain ``{i}``."""
    return module_rules(
        (plugin_prefix + plugin,
         tuple(foreign_prefix + m
               for m in ((name, ) if isinstance(name, str) else name)))
        for plugin, name in zip(PLUGIN_BLOCK, foreign_modules))


@dataclass(frozen=True)
class Part:
    """A part of a layout that a checkpoint has or has not as a whole.

    Args:
        name (str): What it is, for the report.
        rules (tuple[Rule]): Rules outside the blocks.
        blocks (tuple[Rule]): Rules of block ``{i}``. Defaults to ().
        plugin_block (str): Plugin key prefix of block ``{i}`` (counts the
            blocks of a plugin source). Defaults to ''.
        foreign_block (str): Foreign key prefix of block ``{i}``.
            Defaults to ''.
    """
    name: str
    rules: Tuple[Rule, ...]
    blocks: Tuple[Rule, ...] = ()
    plugin_block: str = ''
    foreign_block: str = ''

    def expand(self, keys: Iterable[str], to_plugin: bool) -> List[Rule]:
        """All rules, blocks repeated as often as the source has them."""
        prefix = self.foreign_block if to_plugin else self.plugin_block
        depth = count_blocks(keys, prefix) if prefix else 0
        return list(self.rules) + [
            rule.format(i) for i in range(depth) for rule in self.blocks
        ]


#: Plugin key prefixes of encoder block ``{i}`` and decoder block ``{i}``.
ENCODER_BLOCK = 'backbone.layers.{i}.'
DECODER_BLOCK = 'neck.decoder_blocks.{i}.'


def encoder_part(rules: Sequence[Rule], foreign_block: str,
                 block_modules: Sequence[object]) -> Part:
    """The plugin's encoder (``backbone.*``) in a foreign layout.

    Args:
        rules (Sequence[Rule]): Rules outside the blocks (class token,
            positions, patch projection, final norm).
        foreign_block (str): Foreign key prefix of block ``{i}``.
        block_modules (Sequence): Foreign module names of a block, in the
            order of :data:`PLUGIN_BLOCK`.
    """
    return Part(
        'encoder',
        rules=tuple(rules),
        blocks=tuple(block_rules(ENCODER_BLOCK, foreign_block, block_modules)),
        plugin_block=ENCODER_BLOCK,
        foreign_block=foreign_block)


def decoder_part(prefix: str,
                 foreign_block: str,
                 block_modules: Sequence[object],
                 norm: str = 'decoder_norm') -> Part:
    """The plugin's :class:`MAEDecoder` (``neck.*``) in a foreign layout
    that names its tensors as the official MAE code does.

    Args:
        prefix (str): Foreign key prefix of the decoder's tensors.
        foreign_block (str): Foreign key prefix of block ``{i}``.
        block_modules (Sequence): Foreign module names of a block, in the
            order of :data:`PLUGIN_BLOCK`.
        norm (str): Foreign name of the final norm, after ``prefix``.
            Defaults to ``'decoder_norm'``.
    """
    return Part(
        'decoder',
        rules=(Rule('neck.mask_token', (prefix + 'mask_token', )),
               Rule('neck.decoder_pos_embed',
                    (prefix + 'decoder_pos_embed', )), *module_rules(
                        [('neck.decoder_embed', prefix + 'decoder_embed'),
                         ('neck.decoder_norm', prefix + norm),
                         ('neck.decoder_pred', prefix + 'decoder_pred')])),
        blocks=tuple(block_rules(DECODER_BLOCK, foreign_block, block_modules)),
        plugin_block=DECODER_BLOCK,
        foreign_block=foreign_block)


def count_blocks(keys: Iterable[str], prefix: str) -> int:
    """``1 + `` the largest block index of keys starting with ``prefix``
    (which contains ``{i}``), 0 when none does."""
    pattern = re.compile(re.escape(prefix).replace(r'\{i\}', r'(\d+)'))
    indices = [int(m.group(1)) for m in map(pattern.match, keys) if m]
    return max(indices) + 1 if indices else 0


@dataclass
class ConversionReport:
    """What a conversion did with every key.

    Attributes:
        source (str): Source layout.
        target (str): Target layout.
        parts (list[str]): Parts found in the source, with block counts.
        converted (list[tuple]): ``(source keys, target keys)`` pairs.
        missing (list[str]): Target keys of a found part whose source
            tensors are absent.
        unexpected (list[str]): Source keys no rule uses and no dropped
            part holds; they are not in the output.
        dropped (list[str]): Whole plugin parts (:data:`PLUGIN_PARTS`)
            the target layout has no place for, one line each.
        notes (list[str]): What the caller should know (position
            embeddings, settings the target model needs).
    """
    source: str
    target: str
    parts: List[str] = field(default_factory=list)
    converted: List[Tuple[Tuple[str, ...],
                          Tuple[str, ...]]] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def summary(self) -> str:
        """A human-readable summary, one item per line."""
        return summarize(
            self, f'{self.source} -> {self.target}: '
            f'{len(self.converted)} converted,', ('missing', 'unexpected'),
            [f'parts: {", ".join(self.parts)}'] +
            [f'dropped: {part}' for part in self.dropped] +
            [f'note: {note}' for note in self.notes])


def split_dropped(keys: Sequence[str],
                  target: str) -> Tuple[List[str], List[str]]:
    """Sort unused plugin keys into whole dropped parts and the rest.

    Args:
        keys (Sequence[str]): Plugin keys no rule of the target uses.
        target (str): Name of the target layout, for the messages.

    Returns:
        tuple: one line per dropped part of :data:`PLUGIN_PARTS` (its name,
        key count and prefix), and the keys of no such part.
    """
    dropped, rest = [], list(keys)
    for name, prefixes in PLUGIN_PARTS:
        part = [key for key in rest if key.startswith(prefixes)]
        if part:
            keys = f'{len(part)} key' + 's' * (len(part) > 1)
            dropped.append(
                f'{name} ({keys} {", ".join(p + "*" for p in prefixes)}), '
                f'not part of the {target} layout')
            rest = [key for key in rest if not key.startswith(prefixes)]
    return dropped, rest


#: Buffers that hold integers by design: BEiT's (and mmseg's MAE's) table
#: of relative position indices, a BatchNorm's count of batches.
INTEGER_BUFFERS = ('relative_position_index', 'num_batches_tracked')


def check_floating(state_dict: StateDict, keys: Iterable[str]) -> None:
    """Refuse weights that are not floating point (a quantised or
    corrupted checkpoint would otherwise be written out as it is); the
    index buffers of :data:`INTEGER_BUFFERS` are integers by design.

    Raises:
        TypeError: naming the first such key and its dtype.
    """
    for key in keys:
        if key.rsplit('.', 1)[-1] in INTEGER_BUFFERS:
            continue
        if not state_dict[key].is_floating_point():
            raise TypeError(f'{key}: weights must be floating point, got '
                            f'{state_dict[key].dtype}')


def convert_state_dict(
    state_dict: StateDict,
    layout: Sequence[Part],
    to_plugin: bool,
    source: str,
    target: str,
    progress: bool = False,
    notes: Sequence[str] = ()
) -> Tuple['OrderedDict[str, torch.Tensor]', ConversionReport]:
    """Apply a layout in one direction.

    Args:
        state_dict (dict): Source tensors.
        layout (Sequence[Part]): Parts of the foreign layout.
        to_plugin (bool): Foreign -> plugin if True, else plugin -> foreign.
        source (str): Name of the source layout, for messages.
        target (str): Name of the target layout, for messages.
        progress (bool): Show a progress bar over the rules.
            Defaults to False.
        notes (Sequence[str]): Notes for the report. Defaults to ().

    Returns:
        tuple: the converted ``OrderedDict`` and a
        :class:`ConversionReport`.

    Raises:
        ValueError: If no key of ``state_dict`` is in the source layout.
        TypeError: If a converted tensor is not floating point.
    """
    report = ConversionReport(source, target, notes=list(notes))
    rules = []
    for part in layout:
        part_rules = part.expand(state_dict, to_plugin)
        sources = [
            r.foreign if to_plugin else (r.plugin, ) for r in part_rules
        ]
        if any(k in state_dict for keys in sources for k in keys):
            rules += part_rules
            num_block_rules = len(part_rules) - len(part.rules)
            blocks = num_block_rules // max(len(part.blocks), 1)
            report.parts.append(
                f'{part.name} (depth {blocks})' if part.blocks else part.name)
    if not rules:
        raise ValueError(
            f'state_dict: no key is in the {source} layout (first keys: '
            f'{list(state_dict)[:5]})')

    out = OrderedDict()
    used = set()
    bar = ProgressBar(len(rules)) if progress else None
    for rule in rules:
        src, dst = ((rule.foreign, (rule.plugin, )) if to_plugin else
                    ((rule.plugin, ), rule.foreign))
        if all(k in state_dict for k in src):
            check_floating(state_dict, src)
            value = (
                state_dict[src[0]]
                if len(src) == 1 else torch.cat([state_dict[k] for k in src]))
            if len(dst) == 1:
                out[dst[0]] = value
            else:  # split copies, so a saved part holds its own storage
                out.update(
                    (k, t.clone()) for k, t in zip(dst, value.chunk(len(dst))))
            used.update(src)
            report.converted.append((src, dst))
        else:
            report.missing += list(dst)
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    report.unexpected = [k for k in state_dict if k not in used]
    if not to_plugin:
        report.dropped, report.unexpected = split_dropped(
            report.unexpected, target)
    return out, report


def exporter(name: str, layout: Sequence[Part], target: str,
             notes: Sequence[str], doc: str) -> Callable:
    """A converter plugin -> ``target`` through ``layout``.

    Args:
        name (str): The converter's name (``convert_to_...``).
        layout (Sequence[Part]): Parts of the foreign layout.
        target (str): Name of the foreign layout, for messages.
        notes (Sequence[str]): Notes for every report.
        doc (str): The converter's docstring.

    Returns:
        callable: ``convert(state_dict, progress=False)`` returning the
        converted state dict and its :class:`ConversionReport`.
    """

    def convert(state_dict: StateDict,
                progress: bool = False) -> Tuple[StateDict, ConversionReport]:
        return convert_state_dict(state_dict, layout, False, 'plugin', target,
                                  progress, notes)

    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = doc
    return convert
