"""tools/analysis_tools/gpu_benchmarks.sh, run with a tool interpreter that
fails at once (the stages themselves need a GPU)."""
import json
import os
import re
import subprocess
import sys

from ..conftest import ROOT

SCRIPT = os.path.join(ROOT, 'tools', 'analysis_tools', 'gpu_benchmarks.sh')


def test_failed_stage_leaves_no_json_of_an_earlier_run(tmp_path):
    stale = tmp_path / 'step_b16.json'
    stale.write_text('{"peers": {}}')
    result = subprocess.run(
        ['bash', SCRIPT, str(tmp_path), 'step_b16'],
        env={**os.environ, 'PY': 'false'},
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '[step_b16] failed (exit 1)' in result.stdout
    # the earlier result would pass for this run's
    assert not stale.exists()
    assert (tmp_path / 'step_b16.log').exists()


def test_the_documented_cpu_check_runs_a_step_stage(tmp_path):
    """docs/benchmarks.md checks the script on a CPU by appending
    STEP_ARGS (``--device cpu`` and small sizes) to the GPU commands; the
    step stages stopped at argparse's check of their ``--device cuda``."""
    with open(os.path.join(ROOT, 'docs', 'benchmarks.md')) as f:
        step_args = re.search(r'STEP_ARGS="([^"]*)"', f.read()).group(1)
    result = subprocess.run(
        ['bash', SCRIPT, str(tmp_path), 'step_b16'],
        env={**os.environ, 'PY': sys.executable,
             'STEP_ARGS': step_args.replace('\\\n', ' ')},
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '[step_b16] done' in result.stdout, result.stdout + (
        tmp_path / 'step_b16.log').read_text()
    with open(tmp_path / 'step_b16.json') as f:
        report = json.load(f)
    assert report['spec']['device'] == 'cpu'
    assert sorted(report['peers']) == ['hf', 'mae_plugin', 'mmpretrain']


def test_a_misspelt_stage_stops_the_run_before_any_stage(tmp_path):
    """It was found when the loop reached it, after the stages before it
    had run."""
    result = subprocess.run(
        ['bash', SCRIPT, str(tmp_path), 'step_b16', 'step_l61'],
        env={**os.environ, 'PY': 'false'},
        capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown stage 'step_l61'" in result.stderr
    assert not (tmp_path / 'step_b16.log').exists()


def test_the_budget_cuts_a_stage_and_skips_the_stages_it_leaves_no_time(
        tmp_path):
    sleeper = tmp_path / 'sleeper'
    sleeper.write_text('#!/bin/sh\nexec sleep 60\n')
    sleeper.chmod(0o755)
    stale = tmp_path / 'step_l16.json'
    stale.write_text('{"peers": {}}')
    result = subprocess.run(
        ['bash', SCRIPT, str(tmp_path), 'step_b16', 'step_l16'],
        env={**os.environ, 'PY': str(sleeper), 'BUDGET': '3',
             'MIN_STAGE_SECONDS': '1'},
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # step_b16's own limit is 150 s; a second may have passed before it
    assert re.search(r'\[step_b16\] up to [23]s', result.stdout), \
        result.stdout
    assert re.search(r'\[step_b16\] timed out after [23]s', result.stdout)
    assert re.search(r'\[step_l16\] skipped: -?\d+s of BUDGET=3s left',
                     result.stdout), result.stdout
    assert not stale.exists()
