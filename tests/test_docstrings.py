"""The ``Args:`` sections of the library's docstrings match the code.

For every function, method and class defined in ``mae_plugin`` whose
docstring has a Google-style ``Args:`` section (a class documents its
``__init__`` arguments), the names documented there must be the
parameters of the signature in order, ``self``/``cls`` left out and
``*args``/``**kwargs`` written with their stars. A ``Defaults to X.`` in
an argument's text must equal the signature's default where ``X`` is a
Python literal (``None``, ``True``, ``0.5``, ``'cpu'``, ``(224, 224)``).
"""
import ast
import importlib
import inspect
import pkgutil
import re
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

import mae_plugin

# An entry: "name (type): text", "name: text" or, for arguments
# described together, "name, other (type): text"; "*args" and
# "**kwargs" keep their stars.
ENTRY = re.compile(r'(\*{0,2}\w+(?:,\s*\*{0,2}\w+)*)(?: \(.+?\))?:(?:\s|$)')
# What follows "Defaults to": ``a literal``, a tuple or one word.
DEFAULT = re.compile(r'Defaults to (``.+?``|\(.*?\)|\S+)')


def _defined_objects() -> Iterator[Tuple[str, object]]:
    """Yield ``(qualified name, object)`` for the functions and classes
    of every ``mae_plugin`` module and the methods of those classes,
    leaving out what a module imports from elsewhere."""
    names = pkgutil.walk_packages(mae_plugin.__path__, 'mae_plugin.')
    for info in names:
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (not (inspect.isfunction(obj) or inspect.isclass(obj))
                    or obj.__module__ != module.__name__):
                continue
            yield f'{module.__name__}.{obj.__qualname__}', obj
            if not inspect.isclass(obj):
                continue
            for attr in vars(obj).values():
                function = getattr(attr, '__func__', attr)
                if inspect.isfunction(function):
                    yield f'{module.__name__}.{function.__qualname__}', \
                        function


def _own_doc(obj: object) -> str:
    """``obj``'s own docstring, cleaned; not one it inherits."""
    return inspect.cleandoc(obj.__doc__ or '')


def parse_args_section(doc: str) -> Optional[Dict[str, str]]:
    """The entries of the ``Args:`` section of a docstring.

    Args:
        doc (str): A docstring, as ``inspect.getdoc`` cleans it.

    Returns:
        dict, optional: Each documented name (with its stars) to its
        text, continuation lines joined, in the docstring's order (an
        entry not written as one: the whole entry to ``''``); None if
        there is no ``Args:`` section.
    """
    lines = doc.splitlines()
    if 'Args:' not in lines:
        return None
    # An entry starts 4 spaces in; its continuation lines are further in.
    blocks: List[str] = []
    for line in lines[lines.index('Args:') + 1:]:
        if line and not line.startswith(' '):
            break  # the next section or paragraph
        if line.startswith(' ' * 4) and line[4:5] != ' ':
            blocks.append(line.strip())
        elif blocks and line.strip():
            blocks[-1] += ' ' + line.strip()
    entries = {}
    for block in blocks:
        entry = ENTRY.match(block)
        if entry is None:  # kept whole: it matches no parameter
            entries[block] = ''
            continue
        for name in entry.group(1).split(','):
            entries[name.strip()] = block[entry.end():]
    return entries


def _documented_parameters(signature: inspect.Signature) -> List[str]:
    """The parameter names as an ``Args:`` section writes them."""
    stars = {inspect.Parameter.VAR_POSITIONAL: '*',
             inspect.Parameter.VAR_KEYWORD: '**'}
    return [stars.get(p.kind, '') + p.name
            for p in signature.parameters.values()
            if p.name not in ('self', 'cls')]


def _default_mismatch(text: str, default: object) -> Optional[str]:
    """Why ``Defaults to X`` in ``text`` disagrees with ``default``, or
    None when it agrees or ``X`` is no Python literal."""
    match = DEFAULT.search(text)
    if match is None:
        return None
    written = match.group(1).strip('`').rstrip('.,;:')
    try:
        value = ast.literal_eval(written)
    except (ValueError, SyntaxError):
        return None  # a name or prose, e.g. ``IMAGE_EXTENSIONS``
    if (value == default and isinstance(value, bool) == isinstance(
            default, bool)):
        return None
    return f'documents "Defaults to {written}", the default is {default!r}'


def docstring_mismatches(obj: object) -> List[str]:
    """How the ``Args:`` section of ``obj``'s docstring disagrees with
    its signature (a class's: that of its constructor).

    Args:
        obj (object): A function or class.

    Returns:
        list[str]: One message per mismatch; empty if it matches or has
        no ``Args:`` section.
    """
    entries = parse_args_section(_own_doc(obj))
    if entries is None:
        return []
    signature = inspect.signature(obj)
    parameters = _documented_parameters(signature)
    if list(entries) != parameters:
        return [f'documents {list(entries)}, the signature has '
                f'{parameters}']
    messages = []
    for name, text in entries.items():
        default = signature.parameters[name.lstrip('*')].default
        mismatch = (None if default is inspect.Parameter.empty else
                    _default_mismatch(text, default))
        if mismatch:
            messages.append(f'{name}: {mismatch}')
    return messages


DOCUMENTED = [(name, obj) for name, obj in _defined_objects()
              if parse_args_section(_own_doc(obj))]


def test_finds_the_documented_objects():
    # Guards the walk: a broken import or filter would check nothing.
    assert len(DOCUMENTED) > 100


@pytest.mark.parametrize('obj', [obj for _, obj in DOCUMENTED],
                         ids=[name for name, _ in DOCUMENTED])
def test_args_section_matches_signature(obj):
    mismatches = docstring_mismatches(obj)
    assert not mismatches, f'{obj.__qualname__}: ' + '; '.join(mismatches)


def test_reports_a_renamed_parameter():

    def scaled(value: float, factor: float = 2.0) -> float:
        """Scale a value.

        Args:
            value (float): The value.
            scale (float): The factor. Defaults to 2.0.
        """
        return value * factor

    assert docstring_mismatches(scaled) == [
        "documents ['value', 'scale'], the signature has "
        "['value', 'factor']"]


def test_reports_a_wrong_default():

    def padded(size: int, pad: int = 0, mode: str = 'edge') -> int:
        """Pad a size.

        Args:
            size (int): The size.
            pad (int): Pixels on each side. Defaults
                to 1.
            mode (str): Not read here. Defaults to ``'edge'``.
        """
        return size + 2 * pad

    assert docstring_mismatches(padded) == [
        'pad: documents "Defaults to 1", the default is 0']
