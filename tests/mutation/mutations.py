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
FILES = 'mae_plugin/converters/files.py'
DET = ('configs/benchmarks/mmdetection/'
       'mask-rcnn_mae-vit-base-p16_simple-fpn_32xb2-lsj-100e_coco.py')
SEG = ('configs/benchmarks/mmsegmentation/'
       'upernet_mae-vit-base-p16_8xb2-160k_ade20k-512x512.py')

HEAD_TESTS = ('tests/test_models/test_decoder_and_head.py', )
KEYS_TESTS = ('tests/test_engine/test_pretrained_keys_hook.py', )
KNN_TESTS = ('tests/test_engine/test_knn_eval_hook.py', )
EXPORT_TESTS = ('tests/test_converters/test_export.py', )
RECIPE_TESTS = (
    'tests/test_configs/test_transfer_configs.py::'
    'test_full_size_config_builds', )

MUTATIONS = (
    # The five of issue 23's table.
    Mutation('norm-pix-eps', 'norm-pix eps 1e-6', HEAD,
             'eps: float = 1e-6,', 'eps: float = 1e-5,', HEAD_TESTS),
    Mutation(
        'dense-vit-grid-transposed',
        'DenseViT resizes positions to each input grid (non-square)',
        DENSE_VIT,
        'self.pretrain_grid,\n'
        '                                     grid_size, '
        'self.interpolate_mode, 1)',
        'self.pretrain_grid,\n'
        '                                     grid_size[::-1], '
        'self.interpolate_mode, 1)',
        ('tests/test_models/test_dense_vit.py', )),
    Mutation('keys-hook-threshold', 'PretrainedKeysHook stops below half',
             KEYS_HOOK, 'min_matched: float = 0.5',
             'min_matched: float = 0.05', KEYS_TESTS),
    Mutation('vitdet-entry', "ViTDet export saved as {'model': ...}", FILES,
             "'vitdet': (convert_to_vitdet, 'model'),",
             "'vitdet': (convert_to_vitdet, 'state_dict'),", EXPORT_TESTS),
    Mutation('knn-k', 'KNNEvalHook k=20', KNN_HOOK, 'k: int = 20,',
             'k: int = 5,', KNN_TESTS),
    # More of the README's promises.
    Mutation('knn-temperature', 'KNNEvalHook T=0.07', KNN_HOOK,
             'temperature: float = 0.07', 'temperature: float = 0.1',
             KNN_TESTS),
    Mutation('knn-mean-with-class-token',
             'kNN mean-pooled feature averages the patch tokens',
             'mae_plugin/evaluation/knn.py', 'tokens[:, 1:].mean(dim=1)',
             'tokens.mean(dim=1)', KNN_TESTS),
    Mutation('keys-hook-half-stops', 'half of the keys is enough',
             KEYS_HOOK, 'if matched < self.min_matched * total:',
             'if matched <= self.min_matched * total:', KEYS_TESTS),
    Mutation(
        'every-rank-writes-last-checkpoint', 'rank 0 writes the checkpoints',
        'mae_plugin/engine/hooks/atomic_checkpoint_hook.py',
        '        if not is_main_process():\n'
        '            return\n'
        '        atomic_write(self.last_ckpt.encode(),',
        '        atomic_write(self.last_ckpt.encode(),',
        ('tests/test_engine/test_distributed.py::'
         'test_dist_train_sh_trains_saves_and_resumes_on_cpu', )),
    Mutation('hf-model-entry', 'hf-model output is a bare state dict', FILES,
             "'hf-model': (_hf_model, None),",
             "'hf-model': (_hf_model, 'state_dict'),", EXPORT_TESTS),
    Mutation('mmseg-vit-entry', "mmseg output saved as {'state_dict': ...}",
             FILES, "'mmseg-vit': (convert_to_mmseg_vit, 'state_dict'),",
             "'mmseg-vit': (convert_to_mmseg_vit, 'model'),", EXPORT_TESTS),
    Mutation('detection-without-rel-pos',
             'detection recipe: relative position bias', DET,
             'global_attn_indexes=(2, 5, 8, 11),\n'
             '        use_rel_pos=True,',
             'global_attn_indexes=(2, 5, 8, 11),\n'
             '        use_rel_pos=False,', RECIPE_TESTS),
    Mutation('detection-at-512', 'detection recipe: 1024x1024 input', DET,
             'image_size = (1024, 1024)', 'image_size = (512, 512)',
             RECIPE_TESTS),
    Mutation('segmentation-at-256', 'segmentation recipe: 512x512 crops',
             SEG, 'crop_size = (512, 512)', 'crop_size = (256, 256)',
             RECIPE_TESTS),
    # Two of the table's already-caught ones, as a check of the harness.
    Mutation('biased-variance', 'norm-pix: unbiased patch variance', HEAD,
             'var = patches.var(dim=-1, keepdim=True)  # unbiased',
             'var = patches.var(dim=-1, keepdim=True, unbiased=False)',
             HEAD_TESTS),
    Mutation('sincos-halves-swapped',
             'sin-cos: columns in the first half of the channels',
             'mae_plugin/models/utils/pos_embed.py',
             'sincos_1d(cols.flatten(), dims // 2),\n'
             '        sincos_1d(rows.flatten(), dims // 2)',
             'sincos_1d(rows.flatten(), dims // 2),\n'
             '        sincos_1d(cols.flatten(), dims // 2)',
             ('tests/test_models/test_utils.py', )),
)
