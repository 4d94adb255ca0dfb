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
