"""Mean +- std over seeds of the Fashion-MNIST study's rows."""
import pytest

from mae_plugin.experiments.seed_summary import (format_seed_summary, mean_std,
                                                 summarize_study_seeds,
                                                 write_seed_summary)


def study(seed, linear, knn, mae_top1):
    return dict(
        seed=seed,
        probes=[
            dict(features='raw pixels', linear=83.5, knn=84.6),
            dict(
                features=f'MAE, 16 epochs ({90 + seed}.0 CPU-min, '
                f'{50 + seed}.0 wall-min), cls token',
                linear=linear,
                knn=knn),
        ],
        finetune={
            'MAE-initialised': mae_top1,
            'from scratch': 80.4
        },
        equal_compute=dict(
            epochs=12 + seed, spent_cpu_minutes=20. + seed, budget=21.))


def test_mean_and_sample_std():
    assert mean_std([86.0, 87.0, 88.0]) == (87.0, 1.0)
    assert mean_std([5.0]) == (5.0, 0.)
    with pytest.raises(ValueError, match='values'):
        mean_std([])


def test_rows_matched_across_seeds_and_formatted():
    summary = summarize_study_seeds([
        study(0, 86.0, 84.0, 88.0),
        study(1, 87.0, 85.0, 88.5),
        study(2, 88.0, 86.0, 89.0)
    ])
    assert summary['seeds'] == [0, 1, 2]
    assert summary['probes'][1] == dict(
        features='MAE, 16 epochs, cls token',
        linear=[86.0, 87.0, 88.0],
        knn=[84.0, 85.0, 86.0])
    text = format_seed_summary(summary)
    assert '| MAE, 16 epochs, cls token | 87.0 +- 1.0 | 85.0 +- 1.0 |' in text
    assert '| raw pixels | 83.5 +- 0.0 | 84.6 +- 0.0 |' in text
    assert '| MAE-initialised | 88.5 +- 0.5 |' in text
    assert summary['equal_compute'][2] == dict(
        epochs=14, spent_cpu_minutes=22.)
    assert text.endswith('The equal-compute baseline trained for 12 epochs '
                         'in 20.0 CPU-minutes, 13 epochs in 21.0 '
                         'CPU-minutes, 14 epochs in 22.0 CPU-minutes.')


def test_runs_with_other_rows_are_refused():
    other = study(1, 86.0, 84.0, 88.0)
    other['probes'] = other['probes'][:1]
    with pytest.raises(ValueError, match='seeds 0 and 1'):
        summarize_study_seeds([study(0, 86.0, 84.0, 88.0), other])


def test_summary_written_from_the_runs(tmp_path):
    runs = [study(0, 86.0, 84.0, 88.0), study(1, 87.0, 85.0, 88.5)]
    summary = write_seed_summary(runs, str(tmp_path))
    assert summary == summarize_study_seeds(runs)
    text = (tmp_path / 'fashion_mnist_study_seeds.md').read_text()
    assert text.startswith('# Fashion-MNIST study over seeds\n\n')
    assert format_seed_summary(summary) in text
