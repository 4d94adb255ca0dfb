"""The mutations the harness applies: each one a small change to the
library (or a config) that breaks a promise of the README, and the tests
that must then fail.

Each names its file and the exact source text it replaces; when the code
changes so that the text is no longer there (once), the harness stops
with "mutation X no longer applies" instead of reporting a false catch:
update ``old`` (and ``new``) to the new code.
"""
from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Mutation:
    """One change to a copy of the repository.

    Attributes:
        name (str): Short unique name.
        promise (str): What the change breaks.
        path (str): File, relative to the repository root.
        old (str): Text that must occur exactly once in the file.
        new (str): Its replacement.
        tests (tuple[str]): pytest node ids (files or single tests) that
            guard the promise; at least one must fail.
    """
    name: str
    promise: str
    path: str
    old: str
    new: str
    tests: Tuple[str, ...]


HEAD = 'mae_plugin/models/heads/mae_pixel_head.py'
DENSE_VIT = 'mae_plugin/models/backbones/dense_vit.py'
KEYS_HOOK = 'mae_plugin/engine/hooks/pretrained_keys_hook.py'
KNN_HOOK = 'mae_plugin/engine/hooks/knn_hook.py'
FILES = 'mae_plugin/checkpoint/converters/files.py'
DET = ('configs/benchmarks/mmdetection/'
       'mask-rcnn_mae-vit-base-p16_simple-fpn_32xb2-lsj-100e_coco.py')
SEG = ('configs/benchmarks/mmsegmentation/'
       'upernet_mae-vit-base-p16_8xb2-160k_ade20k-512x512.py')

HEAD_TESTS = ('tests/test_models/test_decoder_and_head.py', )
KEYS_TESTS = ('tests/test_engine/test_pretrained_keys_hook.py', )
KNN_TESTS = ('tests/test_engine/test_knn_eval_hook.py', )
EXPORT_TESTS = ('tests/test_checkpoint/test_export.py', )
RECIPE_TESTS = ('tests/test_configs/test_transfer_configs.py::'
                'test_full_size_config_builds', )

MUTATIONS = (
    # The five of issue 23's table.
    Mutation(
        name='norm-pix-eps',
        promise='norm-pix eps 1e-6',
        path=HEAD,
        old='eps: float = 1e-6,',
        new='eps: float = 1e-5,',
        tests=HEAD_TESTS),
    Mutation(
        name='dense-vit-grid-transposed',
        promise='DenseViT resizes positions to each input grid (non-square)',
        path=DENSE_VIT,
        old=('self.pretrain_grid,\n' + ' ' * 37 +
             'grid_size, self.interpolate_mode, 1)'),
        new=('self.pretrain_grid,\n' + ' ' * 37 +
             'grid_size[::-1], self.interpolate_mode, 1)'),
        tests=('tests/test_models/test_dense_vit.py', )),
    Mutation(
        name='keys-hook-threshold',
        promise='PretrainedKeysHook stops when fewer than half matched',
        path=KEYS_HOOK,
        old='min_matched: float = 0.5',
        new='min_matched: float = 0.05',
        tests=KEYS_TESTS),
    Mutation(
        name='vitdet-entry',
        promise="the ViTDet export is saved as {'model': ...}",
        path=FILES,
        old="'vitdet': (convert_to_vitdet, 'model'),",
        new="'vitdet': (convert_to_vitdet, 'state_dict'),",
        tests=EXPORT_TESTS),
    Mutation(
        name='knn-k',
        promise='KNNEvalHook votes with k=20',
        path=KNN_HOOK,
        old='k: int = 20,',
        new='k: int = 5,',
        tests=KNN_TESTS),
    # More of the README's promises.
    Mutation(
        name='knn-temperature',
        promise='KNNEvalHook weighs votes with T=0.07',
        path=KNN_HOOK,
        old='temperature: float = 0.07',
        new='temperature: float = 0.1',
        tests=KNN_TESTS),
    Mutation(
        name='knn-mean-with-class-token',
        promise='the kNN mean-pooled feature averages the patch tokens',
        path='mae_plugin/evaluation/knn.py',
        old='tokens[:, 1:].mean(dim=1)',
        new='tokens.mean(dim=1)',
        tests=KNN_TESTS),
    Mutation(
        name='keys-hook-half-stops',
        promise='PretrainedKeysHook passes half of the keys',
        path=KEYS_HOOK,
        old='if matched < self.min_matched * total:',
        new='if matched <= self.min_matched * total:',
        tests=KEYS_TESTS),
    Mutation(
        name='every-rank-writes-last-checkpoint',
        promise='rank 0 writes the checkpoints',
        path='mae_plugin/engine/hooks/atomic_checkpoint_hook.py',
        old=('        if not is_main_process():\n'
             '            return\n'
             '        atomic_write(self.last_ckpt.encode(),'),
        new='        atomic_write(self.last_ckpt.encode(),',
        tests=('tests/test_engine/test_distributed.py::'
               'test_dist_train_sh_trains_saves_and_resumes_on_cpu', )),
    Mutation(
        name='hf-model-entry',
        promise='the hf-model export is a bare state dict',
        path=FILES,
        old="'hf-model': (_hf_model, None),",
        new="'hf-model': (_hf_model, 'state_dict'),",
        tests=EXPORT_TESTS),
    Mutation(
        name='mmseg-vit-entry',
        promise="the mmseg exports are saved as {'state_dict': ...}",
        path=FILES,
        old="'mmseg-vit': (convert_to_mmseg_vit, 'state_dict'),",
        new="'mmseg-vit': (convert_to_mmseg_vit, 'model'),",
        tests=EXPORT_TESTS),
    Mutation(
        name='detection-without-rel-pos',
        promise='the detection recipe uses relative position bias',
        path=DET,
        old='global_attn_indexes=(2, 5, 8, 11),\n        use_rel_pos=True,',
        new='global_attn_indexes=(2, 5, 8, 11),\n        use_rel_pos=False,',
        tests=RECIPE_TESTS),
    Mutation(
        name='detection-at-512',
        promise='the detection recipe trains at 1024x1024',
        path=DET,
        old='image_size = (1024, 1024)',
        new='image_size = (512, 512)',
        tests=RECIPE_TESTS),
    Mutation(
        name='segmentation-at-256',
        promise='the segmentation recipe trains on 512x512 crops',
        path=SEG,
        old='crop_size = (512, 512)',
        new='crop_size = (256, 256)',
        tests=RECIPE_TESTS),
    # Two the issue found caught already, as a check of the harness.
    Mutation(
        name='biased-variance',
        promise='norm-pix divides by the unbiased patch variance',
        path=HEAD,
        old='var = patches.var(dim=-1, keepdim=True)  # unbiased',
        new='var = patches.var(dim=-1, keepdim=True, unbiased=False)',
        tests=HEAD_TESTS),
    Mutation(
        name='sincos-halves-swapped',
        promise='sin-cos: the first half of the channels encodes columns',
        path='mae_plugin/models/utils/pos_embed.py',
        old=('sincos_1d(cols.flatten(), dims // 2),\n'
             '        sincos_1d(rows.flatten(), dims // 2)'),
        new=('sincos_1d(rows.flatten(), dims // 2),\n'
             '        sincos_1d(cols.flatten(), dims // 2)'),
        tests=('tests/test_models/test_utils.py', )),
)
