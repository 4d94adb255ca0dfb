"""The Fashion-MNIST study's report: ``fashion_mnist_study.{json,md,png}``
from what :func:`~mae_plugin.experiments.run_fashion_mnist_study`
returns."""
import os.path as osp
from typing import List

from .report import (markdown_table, pyplot, save_figure, write_json,
                     write_markdown)

#: The frozen features probed per encoder, by key of the probe results.
FEATURE_KINDS = {'cls': 'cls token', 'mean': 'mean-pooled patches'}


def equal_compute_sentence(equal: dict) -> str:
    """How the equal-compute baseline's epochs were chosen, in numbers."""
    return (
        f'The equal-compute baseline trains from scratch for '
        f'{equal["epochs"]} epochs: MAE spent '
        f'{equal["pretrain_cpu_minutes"]:.1f} CPU-minutes in pretraining '
        'steps (without the kNN evaluations between epochs) and '
        f'{equal["finetune_cpu_minutes"]:.1f} in fine-tuning; an epoch from '
        f'scratch costs {equal["epoch_cpu_minutes"]:.2f} (measured on the '
        'same-epochs run), and the baseline took '
        f'{equal["spent_cpu_minutes"]:.1f}. Its epochs are fixed by this '
        'budget before it trains; no test accuracy chooses them.')


def _finetune_rows(results: dict) -> List[tuple]:
    """Rows (name, epochs, CPU minutes, top-1) of the fine-tuning runs."""
    epochs = results['run_epochs']
    return [(name, epochs[name],
             f'{results["minutes"][f"fine-tuning ({name})"]["cpu"]:.1f}',
             f'{top1:.1f}') for name, top1 in results['finetune'].items()]


def write_study_report(results: dict, out_dir: str) -> None:
    """Write ``fashion_mnist_study.json``, ``.md`` and ``.png``.

    Args:
        results (dict): What :func:`run_fashion_mnist_study` returns.
        out_dir (str): Target folder, created when missing.
    """
    write_json(results, osp.join(out_dir, 'fashion_mnist_study.json'))
    lines = [
        '# Fashion-MNIST study', '',
        f'Made by `{results["command"]}` on {results["train_images"]} '
        f'training and {results["test_images"]} test images, seed '
        f'{results["seed"]}: {results["pretrain_epochs"]} pretraining '
        f'epochs, {results["finetune_epochs"]} fine-tuning epochs. Linear: '
        'scikit-learn logistic regression on standardised frozen features; '
        'kNN: weighted, k=20, cosine, T=0.07, the training images vote.', ''
    ]
    lines += markdown_table(
        ['features', 'linear', 'kNN'],
        [(r['features'], f'{r["linear"]:.1f}', f'{r["knn"]:.1f}')
         for r in results['probes']])
    lines.append('')
    lines += markdown_table(['fine-tuning', 'epochs', 'CPU minutes', 'top-1'],
                            _finetune_rows(results))
    lines += ['', equal_compute_sentence(results['equal_compute']), '']
    lines += markdown_table(['stage', 'CPU minutes', 'wall minutes'],
                            [(k, f'{v["cpu"]:.1f}', f'{v["wall"]:.1f}')
                             for k, v in results['minutes'].items()])
    lines += [
        '', 'CPU minutes are the user + system time of all threads of the '
        'process and of its finished dataloader workers; those of '
        'pretraining (and of the MAE rows) include the kNN evaluation after '
        'every epoch.', '',
        '![pretraining loss and kNN accuracy](fashion_mnist_study.png)'
    ]
    write_markdown(lines, osp.join(out_dir, 'fashion_mnist_study.md'))
    plot_pretraining(results['pretraining'],
                     osp.join(out_dir, 'fashion_mnist_study.png'))


def plot_pretraining(history: List[dict], out_file: str) -> None:
    """Pretraining loss and kNN top-1 per epoch, side by side."""
    epochs = [h['epoch'] for h in history]
    fig, (ax_loss, ax_knn) = pyplot().subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [h['loss'] for h in history], marker='o')
    ax_loss.set(
        xlabel='epoch',
        ylabel='masked-patch MSE (norm-pix)',
        title='pretraining loss')
    for kind, label in FEATURE_KINDS.items():
        ax_knn.plot(
            epochs, [h[f'knn/{kind}_top1'] for h in history],
            marker='o',
            label=label)
    ax_knn.set(xlabel='epoch', ylabel='top-1 (%)', title='weighted kNN')
    ax_knn.legend()
    save_figure(fig, out_file)
