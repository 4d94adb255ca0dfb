"""The layers of mae_plugin, lowest first: each module imports only from
its own layer package or from lower layers, and no import cycle exists.

Every ``import`` and ``from ... import`` statement of every module counts,
lazy ones inside functions included; relative imports are resolved.
"""
import ast
import os
import os.path as osp
from typing import Dict, Iterator, List, NamedTuple, Sequence, Set

import mae_plugin

# Lowest first; a layer imports only from the layers before it. The
# packages of one layer do not import each other.
LAYERS = (
    ('registry', 'utils', 'version'),
    ('models', 'datasets', 'evaluation', 'visualization'),
    ('checkpoint', ),
    ('engine', ),
    ('apis', ),
    ('experiments', ),
)


class Import(NamedTuple):
    """One import statement: ``importer`` (a dotted module name) imports
    ``target`` (the module it loads) at ``line``."""
    importer: str
    target: str
    line: int


def module_names(root: str, package: str) -> Dict[str, str]:
    """Dotted name -> file of every module of the package at ``root``."""
    modules = {}
    for folder, _, files in os.walk(root):
        parts = [package] + osp.relpath(folder, root).split(os.sep)
        parts = [p for p in parts if p != '.']
        for name in files:
            if name.endswith('.py'):
                stem = name[:-3]
                dotted = parts if stem == '__init__' else parts + [stem]
                modules['.'.join(dotted)] = osp.join(folder, name)
    return modules


def _resolve(node: ast.AST, importer: str, is_package: bool,
             modules: Set[str]) -> Iterator[str]:
    """The modules of ``modules`` that one import statement loads."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names
                    if alias.name in modules)
        return
    base = node.module or ''
    if node.level:  # relative: from the importer's package upwards
        package = importer.split('.')
        package = package if is_package else package[:-1]
        package = package[:len(package) - node.level + 1]
        base = '.'.join(package + ([base] if base else []))
    for alias in node.names:
        submodule = f'{base}.{alias.name}'
        if submodule in modules:  # from package import module
            yield submodule
        elif base in modules:
            yield base


def package_imports(root: str, package: str) -> List[Import]:
    """Every import, lazy ones included, of the package at ``root`` (the
    folder holding its ``__init__.py``) of modules of that package.

    Args:
        root (str): The package's folder.
        package (str): Its dotted name.

    Returns:
        list[Import]: in file and line order.
    """
    files = module_names(root, package)
    imports = set()
    for importer, path in sorted(files.items()):
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        is_package = osp.basename(path) == '__init__.py'
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.update(
                    Import(importer, target, node.lineno)
                    for target in _resolve(node, importer, is_package,
                                           set(files)))
    return sorted(imports, key=lambda i: (i.importer, i.line, i.target))


def layer_violations(imports: Sequence[Import], package: str,
                     layers: Sequence[Sequence[str]]) -> List[str]:
    """Imports of a higher layer, of another package of the same layer,
    or from or of a package missing from ``layers``; the package's own
    ``__init__`` may import anything.

    Returns:
        list[str]: one line per violation, naming importer and line.
    """
    rank = {name: i for i, layer in enumerate(layers) for name in layer}
    violations = []
    for importer, target, line in imports:
        if importer == package:
            continue
        source = importer.split('.')[1]
        dest = target.split('.')[1] if target != package else package
        if source == dest:
            continue
        for name in (source, dest):
            if name not in rank:
                violations.append(f'{importer}:{line} imports {target}: '
                                  f'{name} is in no layer')
                break
        else:
            if rank[dest] >= rank[source]:
                relation = ('the same layer' if rank[dest] == rank[source] else
                            'a higher layer')
                violations.append(f'{importer}:{line} imports {target}, '
                                  f'{relation} ({dest} over {source})')
    return violations


def import_cycles(imports: Sequence[Import]) -> List[str]:
    """Import cycles between modules (Tarjan's strongly connected
    components of the import graph).

    Returns:
        list[str]: one line per cycle: its modules and the imports
        inside it with their lines.
    """
    graph: Dict[str, Set[str]] = {}
    for importer, target, _ in imports:
        graph.setdefault(importer, set()).add(target)
        graph.setdefault(target, set())
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node: str) -> None:  # recursive Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while node not in component:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
            if len(component) > 1 or node in graph[node]:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [
        f'cycle through {sorted(c)}: ' +
        ', '.join(f'{i.importer}:{i.line} -> {i.target}'
                  for i in imports if i.importer in c and i.target in c)
        for c in components
    ]


def mae_plugin_imports() -> List[Import]:
    return package_imports(osp.dirname(mae_plugin.__file__), 'mae_plugin')


def test_no_import_cycle():
    cycles = import_cycles(mae_plugin_imports())
    assert not cycles, '\n'.join(cycles)


def test_every_import_goes_down_the_layers():
    violations = layer_violations(mae_plugin_imports(), 'mae_plugin', LAYERS)
    assert not violations, '\n'.join(violations)


def write_package(root, files: Dict[str, str]) -> str:
    """A package ``fake`` of ``{relative path: source}`` under ``root``."""
    for path, source in files.items():
        path = root / 'fake' / path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return str(root / 'fake')


FAKE_LAYERS = (('low', ), ('mid_a', 'mid_b'), ('high', ))


def test_the_walker_finds_planted_violations(tmp_path):
    root = write_package(
        tmp_path, {
            '__init__.py':
            'from .high import run\n',
            'low/__init__.py':
            'from .base import x\n',
            'low/base.py':
            'x = 1\n',
            'mid_a/__init__.py':
            'from ..low import x\n',
            'mid_b/__init__.py':
            'def f():\n    import fake.mid_a\n',
            'high/__init__.py':
            'from .run import run\n',
            'high/run.py': ('from fake.mid_b import f\n'
                            'def run():\n'
                            '    from ..low.base import x\n'
                            '    from . import helper\n'),
            'high/helper.py':
            'def g():\n    from fake.high.run import run\n',
            'low/lazy.py':
            'def h():\n    from fake import high\n',
        })
    imports = package_imports(root, 'fake')
    assert Import('fake.high.run', 'fake.low.base', 3) in imports
    assert Import('fake.mid_a', 'fake.low', 1) in imports
    assert Import('fake.high.run', 'fake.high.helper', 4) in imports
    assert layer_violations(imports, 'fake', FAKE_LAYERS) == [
        'fake.low.lazy:2 imports fake.high, a higher layer (high over low)',
        'fake.mid_b:2 imports fake.mid_a, the same layer (mid_a over mid_b)',
    ]
    assert import_cycles(imports) == [
        "cycle through ['fake.high.helper', 'fake.high.run']: "
        'fake.high.helper:2 -> fake.high.run, '
        'fake.high.run:4 -> fake.high.helper'
    ]


def test_a_clean_fake_package_passes(tmp_path):
    root = write_package(
        tmp_path, {
            '__init__.py': 'import fake.high\n',
            'low/__init__.py': '',
            'mid_a/__init__.py': 'from fake import low\n',
            'high/__init__.py': 'from ..mid_a import low\n',
        })
    imports = package_imports(root, 'fake')
    assert Import('fake.mid_a', 'fake.low', 1) in imports
    assert layer_violations(imports, 'fake', FAKE_LAYERS) == []
    assert import_cycles(imports) == []
