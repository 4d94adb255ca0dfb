"""tools/analysis_tools/gpu_benchmarks.sh, run with a tool interpreter that
fails at once (the stages themselves need a GPU)."""
import os
import subprocess

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
