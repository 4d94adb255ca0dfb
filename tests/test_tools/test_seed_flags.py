"""The seed flags of the analysis tools take the seeds NumPy takes, as
``randomness.seed`` (``train_config``) does, and name the flag."""
import pytest

from .test_train_test_visualize import CONFIG, run_tool

TOOLS = 'tools/analysis_tools/'


@pytest.mark.parametrize('argv, flag', [
    ([TOOLS + 'compare_precision.py', CONFIG, '--seed', '-1'], '--seed'),
    ([TOOLS + 'ablation_sweep.py', CONFIG, '--seeds', '0', '-1'], '--seeds'),
    ([TOOLS + 'fashion_mnist_study.py', '--seeds', '-1'], '--seeds'),
    ([TOOLS + 'compare_crops.py', '--seed', '-1'], '--seed'),
])
def test_a_negative_seed_is_refused_by_flag(argv, flag):
    """NumPy refused it after the tool had started: "Seed must be between
    0 and 2**32 - 1" or "expected non-negative integer"."""
    result = run_tool(*argv)
    assert result.returncode == 2
    name = flag[2:]
    assert result.stderr.endswith(
        f'error: argument {flag}: {name} must be an int in [0, 4294967295], '
        'got -1\n')


@pytest.mark.parametrize('argv, message', [
    ([TOOLS + 'fashion_mnist_study.py', '--seeds', '0', '1', '0'],
     'seeds must be different seeds, got [0, 1, 0]'),
    ([TOOLS + 'ablation_sweep.py', CONFIG, '--seeds', '3'],
     'seeds must be at least 2 different seeds, got [3]'),
    ([TOOLS + 'ablation_sweep.py', CONFIG, '--seeds', '3', '3'],
     'seeds must be at least 2 different seeds, got [3, 3]'),
])
def test_a_seed_twice_or_too_few_seeds_are_refused_by_flag(argv, message):
    """The study trained a seed given twice twice into the same folders
    (the summary's std then 0) and the sweep refused too few seeds only
    once it had started."""
    result = run_tool(*argv)
    assert result.returncode == 2
    assert result.stderr.endswith(f'error: argument --seeds: {message}\n')
