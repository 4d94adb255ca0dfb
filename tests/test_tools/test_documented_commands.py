"""The docs against the code: the commands that README.md and docs/*.md
show in their shell blocks parse with the real command lines of the tools
they name, the config files they name exist, their ``--cfg-options`` keys
hang below keys the named config has, and what the docs say of a tool's
files or a function's parameters is what the code has."""
import argparse
import glob
import importlib.util
import inspect
import os.path as osp
import re
import shlex
import sys
from typing import List, Tuple

import pytest
import torch
from mmengine.config import Config

from mae_plugin.models import mae_config

from ..conftest import ROOT

DOCS = ['README.md'] + sorted(
    osp.relpath(path, ROOT) for path in glob.glob(osp.join(ROOT, 'docs',
                                                           '*.md')))
# `tools/dist_train.sh CONFIG GPUS [options]` runs `tools/train.py CONFIG
# [options]`.
DIST_TRAIN = 'tools/dist_train.sh'


# What stands for a config in the docs: CONFIG, or a $CFG-like variable
# (docs/switching.md's $CFG and $FT_CFG).
CONFIG_PLACEHOLDER = re.compile(r'CONFIG|[A-Z_]*CFG')


def shell_lines(doc: str) -> List[Tuple[int, str]]:
    """``(line number, command)`` of every command in the doc's ```bash
    (or unlabelled) blocks, continuation lines joined, comments cut."""
    commands = []
    block = None  # language of the fenced block we are in
    pending, start = '', 0
    with open(osp.join(ROOT, doc)) as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if text.startswith('```'):
                block = None if block is not None else text[3:]
                continue
            if block not in ('bash', 'sh', ''):
                continue
            start = start if pending else number
            pending += ' ' + re.sub(r'(^|\s)#.*', '', text)
            if pending.endswith('\\'):
                pending = pending[:-1]
                continue
            commands.append((start, ' '.join(pending.split())))
            pending = ''
    return commands


def tool_argv(command: str) -> List[str]:
    """``[tool, args...]`` of a documented command, the optional parts of a
    synopsis (``[--amp]``, ``[IMAGE ...]``) included; ``[]`` where it runs
    no Python tool, or where a loop's ``$1`` or a choice ``A | B`` needs a
    shell or a reader."""
    if 'tools/' not in command:  # e.g. the diagrams of docs/design.md
        return []
    # $PY is the interpreter, $CKPT and the like stand for a value
    tokens = shlex.split(
        re.sub(r'\$([A-Z_]+)', r'\1', command.replace('$PY ', 'python ')))
    tools = [
        i for i, token in enumerate(tokens)
        if re.fullmatch(r'tools/\S+\.py', token) or token == DIST_TRAIN
    ]
    if not tools or '|' in tokens or any('$' in t for t in tokens):
        return []
    tool, *args = tokens[tools[0]:]
    if tool == DIST_TRAIN:
        tool, args = 'tools/train.py', args[:1] + args[2:]
    argv, depth = [tool], 0
    for token in args:
        if token.startswith('['):
            token, depth = token[1:], depth + 1
        if depth and token.endswith(']') and '[' not in token:
            token, depth = token[:-1], depth - 1
        if token and token != '...':
            argv.append(token)
    return argv


DOCUMENTED = [(f'{doc}:{number}', argv) for doc in DOCS
              for number, command in shell_lines(doc)
              for argv in [tool_argv(command)] if argv]


def load_tool(path: str):
    """The module of a tool script, not run as ``__main__``."""
    spec = importlib.util.spec_from_file_location(
        'documented_' + osp.splitext(osp.basename(path))[0],
        osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_show_commands_of_the_main_tools():
    tools = {argv[0] for _, argv in DOCUMENTED}
    assert {
        'tools/train.py', 'tools/visualize_reconstruction.py',
        'tools/model_converters/publish_model.py',
        'tools/model_converters/convert_checkpoint.py',
        'tools/analysis_tools/benchmark_train.py'
    } <= tools
    assert len(DOCUMENTED) >= 30


@pytest.mark.parametrize(
    'where,argv', DOCUMENTED, ids=[where for where, _ in DOCUMENTED])
def test_documented_command_parses(where, argv, monkeypatch):
    tool = load_tool(argv[0])
    assert hasattr(tool, 'parse_args'), f'{argv[0]} has no parse_args()'
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_runner_args sets it
    # --device is checked against the GPUs here; the docs' GPU commands
    # parse on the machine they were run on
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 8)
    # a flag must be spelt out: argparse would take `--auto-scale` for
    # `--auto-scale-lr` (until another flag starts the same way)
    init = argparse.ArgumentParser.__init__
    monkeypatch.setattr(
        argparse.ArgumentParser, '__init__',
        lambda self, *a, **kw: init(self, *a, **{**kw, 'allow_abbrev': False}))
    # a config placeholder given a config's suffix, which the tools check
    monkeypatch.setattr(sys, 'argv', [
        a + '.py' if CONFIG_PLACEHOLDER.fullmatch(a) else a for a in argv
    ])
    try:
        args = tool.parse_args()
    except SystemExit as error:
        pytest.fail(f'{where}: {" ".join(argv)} does not parse ({error})')
    config = str(getattr(args, 'config', None))
    # a placeholder stands for any config; a path must be one
    named = config.endswith('.py') and not CONFIG_PLACEHOLDER.fullmatch(
        config[:-3])
    assert not named or osp.isfile(osp.join(ROOT, config)), \
        f'{where}: {config} does not exist'
    options = getattr(args, 'cfg_options', None) or {}
    if not options or not named:
        return
    cfg = Config.fromfile(osp.join(ROOT, config))
    for key in options:
        # the last part may be a new keyword argument, what holds it not
        node = cfg
        for part in key.split('.')[:-1]:
            has = (int(part) < len(node) if isinstance(node, list) else
                   part in node)
            assert has, f'{where}: --cfg-options {key}: {config} has no ' \
                f'{part!r} there'
            node = node[int(part) if isinstance(node, list) else part]


def test_ablation_sweep_help_names_the_files_of_the_seed_spread():
    # the names run_seed_spread and the tool write (test_ablation_sweep.py)
    doc = load_tool('tools/analysis_tools/ablation_sweep.py').__doc__
    assert 'seed_spread.md' in doc
    assert 'seed_spread_results.json' in doc.replace('\n', ' ')


def test_design_doc_gives_the_parameters_of_mae_config():
    with open(osp.join(ROOT, 'docs', 'design.md')) as f:
        shown = re.search(r'mae_config\(([^)]*)\)', f.read()).group(1)
    assert [name.strip() for name in shown.split(',')] == list(
        inspect.signature(mae_config).parameters)
