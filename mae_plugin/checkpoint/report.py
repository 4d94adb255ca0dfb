"""One report of how a state dict fits a model, in one vocabulary for every
loader, hook and tool of the plugin.

Every key of the model is in exactly one of ``matched`` (same name and
shape), ``missing`` (not in the state dict) and ``mismatched`` (same name,
another shape); every key of the state dict that the model lacks is
``unexpected``. ``resized`` lists the position embeddings fitted to the
model's grid before the comparison, ``changed`` the matched keys whose
values differ (filled only when values are compared).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch

StateDict = Dict[str, torch.Tensor]
Shape = Tuple[int, ...]


def summarize(report: object,
              head: str,
              kinds: Sequence[str],
              extra: Sequence[str] = ()) -> str:
    """``head`` and the count of every list attribute in ``kinds`` on one
    line, then ``extra`` and one line per listed item."""
    counts = ', '.join(f'{len(getattr(report, k))} {k}' for k in kinds)
    lines = [f'{head} {counts}', *extra]
    for kind in kinds:
        lines += [f'{kind}: {item}' for item in getattr(report, kind)]
    return '\n'.join(lines)


@dataclass
class LoadReport:
    """How a state dict fits a model, key by key.

    Attributes:
        matched (list[str]): Model keys the state dict holds with the same
            shape, in the model's order.
        missing (list[str]): Model keys the state dict lacks.
        unexpected (list[str]): State-dict keys the model lacks.
        mismatched (list[str]): Common keys of another shape (not loaded).
        resized (list[str]): Position embeddings fitted to the model's
            grid, one line each.
        changed (list[str]): Matched keys whose value in the model differs
            from the state dict's; empty when values were not compared.
        shapes (dict): ``key -> (state-dict shape, model shape)`` of every
            mismatched key.
    """
    matched: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)
    resized: List[str] = field(default_factory=list)
    changed: List[str] = field(default_factory=list)
    shapes: Dict[str, Tuple[Shape, Shape]] = field(default_factory=dict)

    def shape_lines(self, limit: int = None) -> List[str]:
        """``'key: checkpoint (7,) vs model (32,)'`` for the first ``limit``
        mismatched keys (all when None)."""
        return [
            f'{key}: checkpoint {self.shapes[key][0]} vs model '
            f'{self.shapes[key][1]}' for key in self.mismatched[:limit]
        ]

    def count_line(self,
                   name: str,
                   checkpoint: str,
                   prefix: Optional[str],
                   kinds: Sequence[str] = ('missing', 'unexpected',
                                           'mismatched', 'resized',
                                           'changed')) -> str:
        """The one line a load is logged with: ``"name: 3 of 4 keys matched
        in file.pth (prefix 'backbone.')"`` (matched keys out of all the
        model's), then ``'; kind: [...]'`` for every non-empty list of
        ``kinds``."""
        total = len(self.matched) + len(self.missing) + len(self.mismatched)
        return '; '.join([
            f'{name}: {len(self.matched)} of {total} keys matched in '
            f'{checkpoint} (prefix {prefix!r})'
        ] + [
            f'{kind}: {getattr(self, kind)}'
            for kind in kinds if getattr(self, kind)
        ])

    def summary(self) -> str:
        """A human-readable summary, one item per line (mismatched keys
        with both shapes)."""
        kinds = ('missing', 'unexpected', 'resized', 'changed')
        return summarize(
            self, f'{len(self.matched)} matched, '
            f'{len(self.mismatched)} mismatched,', kinds,
            [f'mismatched: {line}' for line in self.shape_lines()])


def compare_state_dicts(own: StateDict,
                        other: StateDict,
                        values: bool = True) -> LoadReport:
    """Sort every key of a model's state dict and of the one it is (or
    was) loaded from.

    Args:
        own (dict): The model's state dict.
        other (dict): The state dict it is loaded from.
        values (bool): Also list the matched keys whose values differ
            (``changed``). Defaults to True.

    Returns:
        LoadReport: matched, missing, mismatched (with both shapes),
        unexpected and, with ``values``, changed keys.
    """
    report = LoadReport()
    for key, value in own.items():
        if key not in other:
            report.missing.append(key)
        elif other[key].shape != value.shape:
            report.mismatched.append(key)
            report.shapes[key] = (tuple(other[key].shape), tuple(value.shape))
        else:
            report.matched.append(key)
            if values and not torch.equal(other[key].to(value), value):
                report.changed.append(key)
    report.unexpected = [key for key in other if key not in own]
    return report
