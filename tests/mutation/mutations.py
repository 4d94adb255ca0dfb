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

MASKING = 'mae_plugin/models/masking/generators.py'
MAE_VIT = 'mae_plugin/models/backbones/mae_vit.py'
DECODER = 'mae_plugin/models/necks/mae_decoder.py'
FUSED_CROP = 'mae_plugin/datasets/transforms/fused_crop.py'

HEAD_TESTS = ('tests/test_models/test_decoder_and_head.py', )
KEYS_TESTS = ('tests/test_engine/test_pretrained_keys_hook.py', )
KNN_TESTS = ('tests/test_engine/test_knn_eval_hook.py', )
EMPTY_EPOCH_TESTS = ('tests/test_apis/test_runner.py::'
                     'test_a_dataset_smaller_than_a_dropped_batch_is_'
                     'refused', )
KNN_LABEL_TESTS = ('tests/test_engine/test_knn_eval_hook.py::'
                   'test_every_label_of_an_annotation_file_is_checked', )
EXPORT_TESTS = ('tests/test_checkpoint/test_export.py', )
MMPRETRAIN_API_TESTS = ('tests/test_apis/test_mmpretrain_apis.py', )
RECIPE_TESTS = ('tests/test_configs/test_transfer_configs.py::'
                'test_full_size_config_builds', )
MASKING_TESTS = ('tests/test_models/test_masking.py', )
ENCODER_TESTS = ('tests/test_models/test_mae_vit.py', )
DECODER_TESTS = HEAD_TESTS  # one file tests both
SEEDED_CROP_TESTS = ('tests/test_datasets/test_fused_crop.py::'
                     'test_seeded_crops_are_mmpretrains', )

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
        old=('sincos_1d(cols, dims // 2),\n'
             '        sincos_1d(rows, dims // 2)'),
        new=('sincos_1d(rows, dims // 2),\n'
             '        sincos_1d(cols, dims // 2)'),
        tests=('tests/test_models/test_utils.py', )),
    # The mutation audit: masking, encoder, decoder, head, positions,
    # optimizers, converters, resume, crops and kNN.
    Mutation(
        name='keep-count-rounds-up',
        promise='masking keeps int(L * (1 - mask_ratio)) patches',
        path=MASKING,
        old='return int(round(keep, 9))',
        new='return math.ceil(round(keep, 9))',
        tests=MASKING_TESTS),
    Mutation(
        name='highest-noise-visible',
        promise='the lowest-noise patches stay visible',
        path=MASKING,
        old='torch.argsort(noise, dim=1)  # [N, L], visible first',
        new='torch.argsort(noise, dim=1, descending=True)  # [N, L]',
        tests=MASKING_TESTS),
    Mutation(
        name='mask-gathered-with-the-shuffle',
        promise='the mask is un-shuffled into patch order by ids_restore',
        path=MASKING,
        old='mask = torch.gather(mask, dim=1, index=ids_restore)',
        new='mask = torch.gather(mask, dim=1, index=ids_shuffle)',
        tests=MASKING_TESTS),
    Mutation(
        name='mask-one-means-visible',
        promise='mask: 1 = removed, 0 = visible',
        path=MASKING,
        old=('mask = torch.ones(n, num_patches, device=noise.device)\n'
             '    mask[:, :num_keep] = 0'),
        new=('mask = torch.zeros(n, num_patches, device=noise.device)\n'
             '    mask[:, :num_keep] = 1'),
        tests=MASKING_TESTS),
    Mutation(
        name='one-noise-for-the-batch',
        promise='RandomMasking draws a mask per sample',
        path=MASKING,
        old='return torch.rand(size, device=device)',
        new='return torch.rand(size[1:], device=device).expand(size)',
        tests=MASKING_TESTS),
    Mutation(
        name='block-masking-keeps-the-blocks',
        promise='BlockMasking removes the blocks',
        path=MASKING,
        old='noise += torch.from_numpy(blocks).flatten(1)',
        new='noise -= torch.from_numpy(blocks).flatten(1)',
        tests=MASKING_TESTS),
    Mutation(
        name='block-masking-wide-blocks-only',
        promise="BlockMasking's aspect ratio is log-uniform in "
        '(min_aspect, 1 / min_aspect)',
        path=MASKING,
        old='self.log_aspect = (math.log(min_aspect), -math.log(min_aspect))',
        new='self.log_aspect = (math.log(min_aspect), 0.)',
        tests=MASKING_TESTS),
    Mutation(
        name='block-masking-never-at-the-edge',
        promise='BlockMasking places a block anywhere it fits',
        path=MASKING,
        old='top = int(uniform(0, h - bh + 1))',
        new='top = int(uniform(0, h - bh))',
        tests=MASKING_TESTS),
    Mutation(
        name='masking-keeps-float-error',
        promise='a mask ratio keeps int(L * (1 - mask_ratio)) patches, '
        'without float error',
        path=MASKING,
        old='return int(round(keep, 9))',
        new='return int(keep)',
        tests=('tests/test_models/test_config_faults.py::'
               'test_random_masking_keeps_the_lowest_noise', )),
    Mutation(
        name='patch-positions-shifted',
        promise='patch i gets position row 1 + i (row 0 is the class one)',
        path=MAE_VIT,
        old='return x + self.position_embedding(grid_size)[:, 1:], grid_size',
        new='return x + self.position_embedding(grid_size)[:, :-1], grid_size',
        tests=ENCODER_TESTS),
    Mutation(
        name='class-token-without-position',
        promise="the class token gets pos_embed's class row, as "
        "mmpretrain's ViT",
        path=MAE_VIT,
        old='return (self.cls_token + self.pos_embed[:, :1]).expand(',
        new='return (self.cls_token + 0 * self.pos_embed[:, :1]).expand(',
        tests=ENCODER_TESTS),
    Mutation(
        name='encoder-keeps-the-wrong-patches',
        promise='the encoder gathers the patches of ids_keep',
        path=MAE_VIT,
        old=('x = torch.gather(x, 1,\n' + ' ' * 25 +
             'ids_keep.unsqueeze(-1)'),
        new=('x = torch.gather(x, 1,\n' + ' ' * 25 +
             'ids_restore[:, :ids_keep.shape[1]].unsqueeze(-1)'),
        tests=ENCODER_TESTS),
    Mutation(
        name='masked-encoder-without-final-norm',
        promise='the masked encoder ends with the final norm',
        path=MAE_VIT,
        old=('        if self.final_norm:\n            x = self.ln1(x)\n'
             '        return x, mask, ids_restore'),
        new='        return x, mask, ids_restore',
        tests=ENCODER_TESTS),
    Mutation(
        name='drop-path-rates-reversed',
        promise='stochastic depth rises linearly from 0 in the first block',
        path=MAE_VIT,
        old='rates = np.linspace(0, drop_path_rate, self.num_layers).tolist()',
        new='rates = np.linspace(drop_path_rate, 0, self.num_layers).tolist()',
        tests=ENCODER_TESTS),
    Mutation(
        name='encoder-other-grid-transposed',
        promise='an input of another size gets the sin-cos of its own grid',
        path=MAE_VIT,
        old=('grid_size, self.embed_dims,\n            transposed='
             'self.sincos_transposed).to(self.pos_embed)'),
        new=('grid_size[::-1], self.embed_dims,\n            transposed='
             'self.sincos_transposed).to(self.pos_embed)'),
        tests=ENCODER_TESTS),
    Mutation(
        name='encoder-forgets-mmpretrain-layout',
        promise="mmpretrain's weights keep their sin-cos layout on any grid",
        path=MAE_VIT,
        old='transposed=self.sincos_transposed).to(self.pos_embed)',
        new='transposed=False).to(self.pos_embed)',
        tests=('tests/test_checkpoint/test_mmpretrain.py', )),
    Mutation(
        name='encoder-mask-token-without-position',
        promise='an encoder mask token gets its patch position',
        path=MAE_VIT,
        old='return torch.cat([visible, self.mask_token + positions], dim=1)',
        new=('return torch.cat([visible, self.mask_token + 0 * positions], '
             'dim=1)'),
        tests=('tests/test_models/test_encoder_mask_token.py', )),
    Mutation(
        name='decoder-unshuffles-with-the-shuffle',
        promise='the decoder puts tokens in patch order with ids_restore',
        path=DECODER,
        old='ids_restore.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))',
        new=('ids_restore.argsort(1).unsqueeze(-1).expand(-1, -1, '
             'patches.shape[-1]))'),
        tests=DECODER_TESTS),
    Mutation(
        name='decoder-gathers-the-class-token',
        promise='the class token stays out of the un-shuffle',
        path=DECODER,
        old='patches = torch.cat([x[:, 1:], mask_tokens], dim=1)',
        new='patches = torch.cat([x[:, :-1], mask_tokens], dim=1)',
        tests=DECODER_TESTS),
    Mutation(
        name='decoder-without-positions',
        promise='the decoder adds its sin-cos positions',
        path=DECODER,
        old='x = x + self.position_embedding(grid_size)',
        new='x = x + 0 * self.position_embedding(grid_size)',
        tests=DECODER_TESTS),
    Mutation(
        name='decoder-predictions-shifted',
        promise="the decoder drops the class token's prediction",
        path=DECODER,
        old='return self.decoder_pred(x)[:, 1:]  # [N, L, p*p*C]',
        new='return self.decoder_pred(x)[:, :-1]  # [N, L, p*p*C]',
        tests=DECODER_TESTS),
    Mutation(
        name='decoder-without-norm',
        promise='the decoder norm runs before the prediction',
        path=DECODER,
        old='x = self.decoder_norm(x)',
        new='x = x',
        tests=DECODER_TESTS),
    Mutation(
        name='decoder-other-grid-transposed',
        promise='the decoder adds the sin-cos of the grid it is given',
        path=DECODER,
        old=('grid_size, self.embed_dims,\n'
             '            transposed=self.sincos_transposed).to('
             'self.decoder_pos_embed)'),
        new=('grid_size[::-1], self.embed_dims,\n'
             '            transposed=self.sincos_transposed).to('
             'self.decoder_pos_embed)'),
        tests=DECODER_TESTS),
    Mutation(
        name='loss-averaged-over-all-patches',
        promise='the loss is the mean over the removed patches',
        path=HEAD,
        old='return dict(loss=(loss * mask).sum() / mask.sum())',
        new='return dict(loss=(loss * mask).mean())',
        tests=HEAD_TESTS),
    Mutation(
        name='reconstruct-without-mean',
        promise="reconstruct adds back each patch's mean",
        path=HEAD,
        old='pred = pred * std + mean',
        new='pred = pred * std',
        tests=HEAD_TESTS),
    Mutation(
        name='patchify-columns-first',
        promise='a patch is flattened (p_row, p_col, channel)',
        path='mae_plugin/models/utils/patchify.py',
        old="x = torch.einsum('nchpwq->nhwpqc', x)",
        new="x = torch.einsum('nchpwq->nhwqpc', x)",
        tests=('tests/test_models/test_utils.py', )),
    Mutation(
        name='learned-positions-resized-bilinearly',
        promise='learnable position embeddings are resized bicubically',
        path='mae_plugin/checkpoint/position.py',
        old="stored = resize_pos_embed(stored, src_grid, grid, 'bicubic',",
        new="stored = resize_pos_embed(stored, src_grid, grid, 'bilinear',",
        tests=('tests/test_checkpoint/test_checkpoint.py', )),
    Mutation(
        name='group-floor-without-lr-scale',
        promise="the fine-tuning floor is eta_min x the group's lr_scale",
        path='mae_plugin/engine/schedulers.py',
        old="eta_min * group.get('lr_scale', 1.)",
        new="eta_min * 1.",
        tests=('tests/test_engine/test_group_floor_scheduler.py', )),
    Mutation(
        name='finetune-decays-biases',
        promise='fine-tuning puts no weight decay on biases',
        path=('configs/_base_/schedules/'
              'adamw_layer-decay_coslr-100e_mae-finetune.py'),
        old="'.bias': dict(decay_mult=0.0),",
        new="'.bias': dict(decay_mult=1.0),",
        tests=('tests/test_configs/test_benchmark_configs.py::'
               'test_finetune_groups_follow_official_param_groups_lrd', )),
    Mutation(
        name='lars-adapts-biases',
        promise='LARS adapts the weight matrices only',
        path='mae_plugin/engine/optimizers/lars_exclude_constructor.py',
        old="group['lars_exclude'] = group['params'][0].ndim < 2",
        new="group['lars_exclude'] = group['params'][0].ndim < 1",
        tests=('tests/test_engine/test_lars_exclude.py', )),
    Mutation(
        name='layer-depths-without-backbone-prefix',
        promise='layer decay reads the depths of backbone.* parameters',
        path='mae_plugin/engine/optimizers/layer_decay_constructor.py',
        old="backbone.get_layer_depth, prefix=f'{prefix}backbone.')",
        new="backbone.get_layer_depth, prefix=prefix)",
        tests=('tests/test_engine/test_layer_decay_constructor.py', )),
    Mutation(
        name='qkv-concatenated-backwards',
        promise='Hugging Face query, key, value concatenate as [q; k; v]',
        path='mae_plugin/checkpoint/converters/key_map.py',
        old='if len(src) == 1 else torch.cat([state_dict[k] for k in src]))',
        new=('if len(src) == 1 else torch.cat([state_dict[k] for k in '
             'src[::-1]]))'),
        tests=('tests/test_checkpoint/test_huggingface.py', )),
    Mutation(
        name='hf-layer-norm-eps-ignored',
        promise="a Hugging Face config's layer_norm_eps is kept",
        path='mae_plugin/checkpoint/converters/huggingface.py',
        old="norm_cfg=dict(type='LN', eps=config.layer_norm_eps),",
        new="norm_cfg=dict(type='LN', eps=1e-6),",
        tests=('tests/test_checkpoint/test_huggingface.py', )),
    Mutation(
        name='publish-keeps-the-optimizer',
        promise='a published checkpoint holds the weights and meta only',
        path='mae_plugin/checkpoint/publish.py',
        old='torch.save(dict(state_dict=state_dict, meta=meta), buffer)',
        new='torch.save(dict(checkpoint, meta=meta), buffer)',
        tests=('tests/test_tools/test_publish_model.py', )),
    Mutation(
        name='safe-loading-unpickles-anything',
        promise='checkpoints are read with torch.load(weights_only=True)',
        path='mae_plugin/checkpoint/safe_loading.py',
        old='filename, map_location=map_location, weights_only=True)',
        new='filename, map_location=map_location, weights_only=False)',
        tests=('tests/test_checkpoint/test_safe_loading.py', )),
    Mutation(
        name='accumulated-gradients-not-restored',
        promise='a resume mid-accumulation restores the saved gradients',
        path='mae_plugin/engine/hooks/accumulated_gradients_hook.py',
        old='if runner.iter != iteration:  # weights loaded by load_from',
        new='if runner.iter == iteration:  # weights loaded by load_from',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_accumulated_gradients_resume_bitwise', )),
    Mutation(
        name='infinite-sampler-in-the-epoch-loop',
        promise="the exact-resume epoch loop refuses mmengine's "
        'InfiniteSampler before training',
        path='mae_plugin/engine/loops.py',
        old='        check_epoch_sampler(batch_sampler.sampler)',
        new='        pass',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_an_infinite_sampler_is_refused_before_training', )),
    Mutation(
        name='knn-history-of-loaded-weights',
        promise='a run that loads weights with load_from starts its own kNN '
        'history',
        path='mae_plugin/engine/hooks/knn_hook.py',
        old='if runner.iter == iteration:  # not weights loaded by load_from',
        new='if True:  # not weights loaded by load_from',
        tests=('tests/test_engine/test_knn_eval_hook.py::'
               'test_a_resumed_run_keeps_the_history_of_the_interrupted_one',
               )),
    Mutation(
        name='lost-gradients-warning-after-restoring-them',
        promise="a resume that restores the accumulated gradients leaves "
        "out mmengine's warning that they were lost",
        path='mae_plugin/engine/hooks/accumulated_gradients_hook.py',
        old='            runner.logger.addFilter(self._filter)',
        new='            pass',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_accumulated_gradients_resume_bitwise', )),
    Mutation(
        name='accumulated-gradients-in-weights-only-checkpoints',
        promise='best and save_optimizer=False checkpoints hold no '
        'accumulated gradients',
        path='mae_plugin/engine/hooks/accumulated_gradients_hook.py',
        old="        if ('optimizer' not in checkpoint\n"
        '                or not mid_accumulation(runner.optim_wrapper)):',
        new='        if not mid_accumulation(runner.optim_wrapper):',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_checkpoints_without_optimizer_state_hold_no_gradients',
               )),
    Mutation(
        name='resume-skips-one-sample-too-few',
        promise='a mid-epoch resume leaves out exactly the trained samples',
        path='mae_plugin/engine/loops.py',
        old='first = max(skip - start, 0)',
        new='first = max(skip - start - 1, 0)',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_sampler_seeds_each_position_as_before', )),
    Mutation(
        name='aspect-ratio-drawn-uniformly',
        promise='the crop aspect ratio is drawn log-uniformly',
        path=FUSED_CROP,
        old='aspect_ratio = math.exp(np.random.uniform(log_lo, log_hi))',
        new='aspect_ratio = np.random.uniform(*aspect_ratio_range)',
        tests=SEEDED_CROP_TESTS),
    Mutation(
        name='flip-probability-inverted',
        promise='DecodeRandomResizedCrop flips with probability flip_prob',
        path='mae_plugin/datasets/transforms/deferred_crop.py',
        old=('p=[self.flip_prob,\n' + ' ' * 35 + '1 - self.flip_prob]'),
        new=('p=[1 - self.flip_prob,\n' + ' ' * 35 + 'self.flip_prob]'),
        tests=('tests/test_datasets/test_deferred_crop.py::'
               'test_flip_probability', )),
    Mutation(
        name='knn-dot-product-not-cosine',
        promise='kNN compares features by cosine similarity',
        path='mae_plugin/evaluation/knn.py',
        old='train_feats = F.normalize(train_feats.float(), dim=1)',
        new='train_feats = train_feats.float()',
        tests=('tests/test_evaluation/test_knn.py', )),
    Mutation(
        name='tokens-exempt-from-weight-decay',
        promise='pretraining decays what the official code decays, the '
        'class and mask tokens included',
        path='configs/_base_/schedules/adamw_coslr-800e_mae.py',
        old='paramwise_cfg=dict(bias_decay_mult=0., flat_decay_mult=0.))',
        new=('paramwise_cfg=dict(bias_decay_mult=0., flat_decay_mult=0., '
             "custom_keys={'token': dict(decay_mult=0.)}))"),
        tests=('tests/test_configs/test_configs.py::'
               'test_weight_decay_as_the_official_code', )),
    Mutation(
        name='misspelt-cfg-option-merged',
        promise='a misspelt top-level --cfg-options key is refused',
        path='mae_plugin/utils/config.py',
        old='if key not in known and close:',
        new='if key not in known and close and False:',
        tests=('tests/test_apis/test_runner.py::'
               'test_a_misspelt_option_is_refused_by_train_test_and_'
               'inference', )),
    Mutation(
        name='resume-follows-a-pointer-out-of-the-work-dir',
        promise='--resume alone takes the work dir\'s own checkpoint',
        path='mae_plugin/apis/runner.py',
        old='cfg.load_from = _latest_of_the_work_dir(cfg)',
        new='cfg.load_from = None',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_a_moved_work_dir_resumes_from_its_own_checkpoint', )),
    Mutation(
        name='frozen-stages-lost-in-the-block-swap',
        promise='MAEViT freezes what mmpretrain\'s ViT freezes',
        path='mae_plugin/models/backbones/mae_vit.py',
        old='self._freeze_stages()\n        self.patch_size',
        new='pass\n        self.patch_size',
        tests=('tests/test_models/test_mae_vit.py::'
               'test_frozen_stages_freeze_what_mmpretrains_vit_freezes', )),
    Mutation(
        name='resume-without-records-restarts-the-epoch',
        promise='a checkpoint saved before the loop kept its records '
        'resumes at its position in the epoch',
        path='mae_plugin/engine/loops.py',
        old='start = self._iter - self._epoch * num_batches',
        new='start = 0',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_checkpoint_without_the_records_still_resumes', )),
    Mutation(
        name='segmentation-positions-resized-at-each-forward',
        promise='the segmentation backbone trains its positions at the '
        'input grid, as mmseg\'s MAE',
        path=('configs/benchmarks/mmsegmentation/'
              'upernet_mae-vit-base-p16_8xb2-160k_ade20k-512x512.py'),
        old='pretrain_img_size=crop_size,',
        new='pretrain_img_size=224,',
        tests=('tests/test_configs/test_transfer_configs.py::'
               'test_full_size_config_builds', )),
    Mutation(
        name='config-dump-writes-over-the-config',
        promise='a run never writes over the config file it reads',
        path='mae_plugin/engine/runner.py',
        old='if osp.isfile(path) and osp.samefile(path, self.cfg.filename):',
        new='if False:',
        tests=('tests/test_apis/test_runner.py::'
               'test_a_config_in_the_work_dir_is_not_written_over', )),
    Mutation(
        name='resume-alone-drops-load-from',
        promise='--resume alone starts from load_from until the work dir '
        'has a checkpoint',
        path='mae_plugin/apis/runner.py',
        old="elif (resume == 'auto' and cfg.get('load_from')",
        new="elif (resume == 'never' and cfg.get('load_from')",
        tests=('tests/test_apis/test_runner.py::'
               'test_resume_alone_starts_from_load_from_until_there_is_a_'
               'checkpoint', )),
    Mutation(
        name='resume-past-max-epochs-trains-nothing-silently',
        promise='a resume with nothing left to train says so',
        path='mae_plugin/engine/loops.py',
        old='if epochs > self._max_epochs:',
        new='if False:',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_a_resume_with_nothing_left_to_train_says_so', )),
    Mutation(
        name='latest-optimizer-left-by-a-kill',
        promise="save_optimizer='latest' keeps the optimizer state in the "
        'newest checkpoint only, after a kill and a resume too',
        path='mae_plugin/engine/hooks/atomic_checkpoint_hook.py',
        old='*runner.message_hub.get_info(OPTIMIZER_KEPT_IN, []),',
        new='',
        tests=('tests/test_engine/test_atomic_checkpoints.py::'
               'test_latest_optimizer_after_a_kill_before_the_rewrite', )),
    Mutation(
        name='latest-optimizer-lost-by-a-new-best',
        promise="save_optimizer='latest' leaves the newest checkpoint "
        'resumable when a new best checkpoint is saved',
        path='mae_plugin/engine/hooks/atomic_checkpoint_hook.py',
        old='if osp.realpath(path) != osp.realpath(self.last_ckpt)',
        new='if True',
        tests=('tests/test_engine/test_atomic_checkpoints.py::'
               'test_latest_optimizer_survives_a_new_best', )),
    Mutation(
        name='latest-optimizer-dropped-before-last-checkpoint-moves',
        promise="with save_optimizer='latest', last_checkpoint never names "
        'a checkpoint without its optimizer state, at any kill',
        path='mae_plugin/engine/hooks/atomic_checkpoint_hook.py',
        old=('            return\n'
             '        atomic_write(self.last_ckpt.encode(),'),
        new=('            return\n        for path in drop:\n'
             '            drop_optimizer_state(path)\n'
             '        atomic_write(self.last_ckpt.encode(),'),
        tests=('tests/test_engine/test_atomic_checkpoints.py::'
               'test_latest_optimizer_after_a_kill_before_the_rewrite', )),
    Mutation(
        name='arch-small-is-vit-s',
        promise="an arch name builds the encoder mmpretrain's ViT builds "
        'for it',
        path=MAE_VIT,
        old='ARCH_ZOO = VisionTransformer.arch_zoo',
        new=("ARCH_ZOO = {**VisionTransformer.arch_zoo, 'small': "
             "VisionTransformer.arch_zoo['deit-small']}"),
        tests=ENCODER_TESTS),
    Mutation(
        name='linear-probe-bn-dropped-as-decoder',
        promise="a linear probe's BatchNorm is converted or reported, never "
        'dropped as a decoder',
        path='mae_plugin/checkpoint/converters/key_map.py',
        old="PLUGIN_PARTS = (('decoder', ('neck.mask_token', "
        "'neck.decoder_')),",
        new="PLUGIN_PARTS = (('decoder', ('neck.', )),",
        tests=('tests/test_checkpoint/test_official.py', )),
    Mutation(
        name='dense-vit-loads-a-shallower-checkpoint',
        promise='DenseViT needs every block of its encoder from the '
        'checkpoint',
        path=DENSE_VIT,
        old="if key.endswith(_ADDED_TO_BLOCKS) or key.startswith('ln1.')",
        new=("if key.endswith(_ADDED_TO_BLOCKS) or key.startswith('ln1.') "
             "or key.startswith('layers.2.')"),
        tests=('tests/test_models/test_dense_vit.py', )),
    Mutation(
        name='dense-vit-patch-kernels-bilinear',
        promise="a checkpoint's patch kernels of another size are resized "
        "bicubically, as ViTDet's ViT-H",
        path=DENSE_VIT,
        old="mode='bicubic',",
        new="mode='bilinear',",
        tests=('tests/test_models/test_dense_vit.py', )),
    Mutation(
        name='latest-keeps-accumulated-gradients',
        promise="save_optimizer='latest' strips an older checkpoint of its "
        'accumulated gradients with its optimizer state',
        path='mae_plugin/checkpoint/publish.py',
        old='    checkpoint.pop(GRADS_KEY, None)\n',
        new='',
        tests=('tests/test_engine/test_atomic_checkpoints.py::'
               'test_latest_optimizer_strips_the_accumulated_gradients_too',
               )),
    Mutation(
        name='accumulated-gradients-of-another-count',
        promise='a resume with another accumulative_counts drops the '
        "checkpoint's accumulated gradients",
        path='mae_plugin/engine/hooks/accumulated_gradients_hook.py',
        old='if counts is not None and counts != run_counts:',
        new='if counts is not None and counts > run_counts:',
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_saved_gradients_another_accumulation_cannot_use_are_'
               'dropped', )),
    Mutation(
        name='batch-change-refused-at-an-epoch-end',
        promise='a resume from the end of an epoch trains the next one '
        'with another batch size',
        path='mae_plugin/engine/loops.py',
        old="0 < self._iter - resumed['first_iter'] < resumed['batches']",
        new="0 < self._iter - resumed['first_iter'] <= resumed['batches']",
        tests=('tests/test_engine/test_exact_resume.py::'
               'test_resume_after_an_epoch_trains_the_next_on_another_'
               'dataset_or_batch', )),
    Mutation(
        name='frozen-missing-keys-unsaid',
        promise='PretrainedKeysHook warns of missing keys of frozen '
        'parameters',
        path='mae_plugin/engine/hooks/pretrained_keys_hook.py',
        old='            if not param.requires_grad\n',
        new='            if param.requires_grad\n',
        tests=('tests/test_engine/test_pretrained_keys_hook.py::'
               'test_missing_keys_of_frozen_parameters_are_warned_of', )),
    Mutation(
        name='topk-above-the-classes-unchecked',
        promise='an Accuracy topk above model.head.num_classes is refused '
        'by key before training',
        path='mae_plugin/apis/config_checks.py',
        old="        if max(ks) > head['num_classes']:",
        new="        if min(ks) > head['num_classes']:",
        tests=('tests/test_apis/test_runner.py::'
               'test_a_topk_accuracy_of_more_classes_than_the_head_has_is_'
               'named', )),
    Mutation(
        name='cpu-amp-of-a-detector-let-through',
        promise='--amp without CUDA is refused for an mmdet detector',
        path='mae_plugin/apis/runner.py',
        old="    if cfg.get('default_scope') == 'mmdet' or (",
        new="    if cfg.get('default_scope') == 'mmdet.' or (",
        tests=('tests/test_configs/test_transfer_configs.py::'
               'test_amp_without_cuda_is_refused_for_a_detector', )),
    Mutation(
        name='whole-inference-with-relative-tables-let-through',
        promise="test_cfg.mode='whole' of a DenseViT with BEiT's tables is "
        'refused before the run where the test images keep their ratio',
        path='mae_plugin/apis/config_checks.py',
        old="                and step.get('keep_ratio') for step in "
        'pipeline):',
        new="                and not step.get('keep_ratio') for step in "
        'pipeline):',
        tests=('tests/test_configs/test_transfer_configs.py::'
               'test_whole_image_inference_with_relative_tables_is_refused',
               )),
    Mutation(
        name='kernels-of-another-width-told-to-resize',
        promise='kernels of another size and width name the arch, not '
        'pretrain_patch_size',
        path='mae_plugin/models/backbones/dense_vit.py',
        old='            if kernels.shape[0] != self.embed_dims:',
        new='            if kernels.shape[0] == -1:',
        tests=('tests/test_models/test_dense_vit.py::'
               'test_checkpoint_of_another_patch_size_raises', )),
    Mutation(
        name='pretrained-checkpoint-unchecked',
        promise="tools/train.py names a Pretrained init_cfg's missing "
        'checkpoint by key before the run',
        path='mae_plugin/apis/inputs.py',
        old="if (isinstance(init, dict) and init.get('type') == 'Pretrained'",
        new="if (isinstance(init, dict) and init.get('type') == 'Pretrain'",
        tests=('tests/test_apis/test_runner.py::'
               'test_pretrained_checkpoints_of_the_model_are_checked', )),
    Mutation(
        name='empty-scheduler-span-unnamed',
        promise='a scheduler whose end is not after its begin is named',
        path='mae_plugin/apis/config_checks.py',
        old='if end is not None and end <= begin:',
        new='if end is not None and end < begin:',
        tests=('tests/test_apis/test_runner.py', )),
    Mutation(
        name='knn-vote-overflows',
        promise='the kNN vote holds at any temperature',
        path='mae_plugin/evaluation/knn.py',
        old='weights = ((top_sim - top_sim[:, :1]) / temperature).exp()',
        new='weights = (top_sim / temperature).exp()',
        tests=('tests/test_evaluation/test_knn.py', )),
    Mutation(
        name='linear-probe-takes-column-labels',
        promise='the linear probe refuses labels that are not one per row',
        path='mae_plugin/evaluation/linear_probe.py',
        old='if y.shape != (len(x), ):',
        new='if len(y) != len(x):',
        tests=('tests/test_evaluation/test_linear_probe.py', )),
    Mutation(
        name='masked-loss-counts-visible-patches',
        promise='the validation loss is the loss over the removed patches',
        path='mae_plugin/models/algorithms/mae.py',
        old='masked_loss = (self.head.patch_loss(pred, inputs) * mask).sum(',
        new='masked_loss = (self.head.patch_loss(pred, inputs) * 1).sum(',
        tests=('tests/test_models/test_mae.py', )),
    Mutation(
        name='position-embedding-resize-reported-mismatched',
        promise='a position embedding resized as it loads is reported so',
        path='mae_plugin/checkpoint/loading.py',
        old='    resized = fit_position_embeddings(module, state_dict)\n',
        new='    resized = []\n',
        tests=KEYS_TESTS),
    Mutation(
        name='predict-seeds-per-batch',
        promise="an image's validation mask does not depend on its batch",
        path='mae_plugin/models/algorithms/mae.py',
        old='image_seed(self.predict_seed, int(key)))',
        new='image_seed(self.predict_seed, 0))',
        tests=('tests/test_models/test_mae.py', )),
    Mutation(
        name='load-from-fit-unchecked',
        promise="a training run's load_from is checked for fit",
        path='mae_plugin/apis/runner.py',
        old="    if cfg.get('resume') or cfg.get('load_from'):",
        new="    if cfg.get('resume'):",
        tests=('tests/test_reliability/test_fault_injection.py::'
               'test_3_an_official_layout_checkpoint_names_the_converter', )),
    Mutation(
        name='checkpoint-name-without-step',
        promise='a checkpoint file name without the step is refused',
        path='mae_plugin/engine/hooks/atomic_checkpoint_hook.py',
        old='        if not distinct:',
        new='        if distinct is None:',
        tests=('tests/test_engine/test_config_faults.py', )),
    Mutation(
        name='resume-keeps-optimizer-silently',
        promise='a resume warns of the optimizer settings it keeps',
        path='mae_plugin/engine/hooks/checkpoint_fit_hook.py',
        old='self._warn_of_optimizer_changes(runner, checkpoint)',
        new='None',
        tests=('tests/test_engine/test_exact_resume.py', )),
    Mutation(
        name='mismatched-pretrained-keys-pass',
        promise='a pretrained key of another shape stops the run',
        path=KEYS_HOOK,
        old='        if refused:',
        new='        if refused and False:',
        tests=KEYS_TESTS),
    Mutation(
        name='linear-probe-frozen-by-block-count',
        promise="a linear probe freezes the whole encoder, whatever its depth",
        path='configs/_base_/models/vit-base-p16_mae-linear.py',
        old="        frozen_stages='all',",
        new='        frozen_stages=2,',
        tests=('tests/test_configs/test_benchmark_configs.py::'
               'test_a_linear_probe_of_another_depth_trains_its_head_only', )),
    Mutation(
        name='unmasked-images-scored',
        promise='images with no removed patch are not scored as perfect',
        path='mae_plugin/evaluation/reconstruction_metric.py',
        old='        if unmasked:',
        new='        if False:',
        tests=('tests/test_evaluation/test_reconstruction_metric.py', )),
    Mutation(
        name='copied-variable-option-merged',
        promise='--cfg-options inside a copied config variable is refused',
        path='mae_plugin/utils/config.py',
        old='        if option != key and key in copied:',
        new='        if False:',
        tests=('tests/test_utils/test_config.py', )),
    Mutation(
        name='training-grid-unlike-img-size-silent',
        promise="a training grid other than img_size's is warned of",
        path='mae_plugin/models/algorithms/mae.py',
        old="    model.warn_of_another_grid(data['inputs'])",
        new='    pass',
        tests=('tests/test_models/test_mae.py', )),
    Mutation(
        name='block-masking-that-fits-no-block',
        promise='a BlockMasking that fits no block in the grid is refused',
        path=MASKING,
        old='        return low < high',
        new='        return True',
        tests=MASKING_TESTS),
    Mutation(
        name='activation-checkpointing-ignored',
        promise='with_cp recomputes the blocks in the backward pass',
        path='mae_plugin/models/utils/attention.py',
        old='    if with_cp and torch.is_grad_enabled() and (',
        new='    if False and (',
        tests=('tests/test_models/test_mae.py::'
               'test_activation_checkpointing_recomputes_the_blocks_to_the_'
               'same_grads', )),
    Mutation(
        name='width-other-than-the-backbones-passed',
        promise="a neck or head width other than the ViT backbone's is "
        'named before the model is built',
        path='mae_plugin/apis/config_checks.py',
        old='    if wrong:',
        new='    if False:',
        tests=('tests/test_apis/test_runner.py::'
               'test_a_width_other_than_the_backbones_is_named', )),
    Mutation(
        name='empty-image-folder-passed',
        promise='an ImageFolder that lists no image is refused before the '
        'run',
        path='mae_plugin/apis/inputs.py',
        old='    check_image_folders(cfg, *keys)',
        new='    pass',
        tests=('tests/test_tools/test_tool_flags.py::'
               'test_an_image_folder_without_images_is_refused_before_the_'
               'run', )),
    Mutation(
        name='pyramid-of-another-patch-size-passed',
        promise="a SimpleFeaturePyramid of another patch size than its "
        "backbone's is refused",
        path='mae_plugin/apis/config_checks.py',
        old="    if 'patch_size' in neck and neck['patch_size'] != patch:",
        new='    if False:',
        tests=('tests/test_configs/test_transfer_configs.py::'
               'test_a_pyramid_for_another_patch_size_is_refused',
               'tests/test_apis/test_runner.py::'
               'test_the_pyramid_patch_size_is_compared_with_a_vits')),
    Mutation(
        name='relative-table-input-size-passed',
        promise="inputs of another grid than BEiT's relative tables are "
        'refused before the run',
        path='mae_plugin/apis/config_checks.py',
        old=('        if value is not None and '
             '_size(value) != _size(img_size):'),
        new='        if False:',
        tests=('tests/test_configs/test_transfer_configs.py::'
               'test_inputs_of_another_grid_than_the_relative_tables_are_'
               'refused', )),
    Mutation(
        name='encoder-deeper-than-checkpoint-passed',
        promise="an encoder deeper than its checkpoint's stops the run",
        path=KEYS_HOOK,
        old='        if depths is not None:',
        new='        if False:',
        tests=KEYS_TESTS),
    Mutation(
        name='optimizer-key-of-another-type-passed',
        promise='an optimizer key its class takes no argument of is named '
        'before the run',
        path='mae_plugin/apis/config_checks.py',
        old='    if not unknown:\n        return',
        new='    if True:\n        return',
        tests=('tests/test_apis/test_runner.py::'
               'test_a_key_the_new_optimizer_type_does_not_take_is_named', )),
    Mutation(
        name='knn-labels-read-from-the-first-sample',
        promise="every label of a kNN set is checked before training",
        path=KNN_HOOK,
        old="if hasattr(dataset, 'get_data_info') else [])",
        new='if False else [])',
        tests=KNN_LABEL_TESTS),
    Mutation(
        name='knn-negative-label-passed',
        promise='a negative label of a kNN set is refused before training',
        path=KNN_HOOK,
        old='        if labels.min() < 0:',
        new='        if False:',
        tests=KNN_LABEL_TESTS),
    Mutation(
        name='empty-epoch-passed',
        promise='a train dataloader whose epoch has no batch is named '
        'before the schedulers are built',
        path='mae_plugin/engine/runner.py',
        old='    if (len(loader) > 0 or not loader.drop_last',
        new='    if (True or not loader.drop_last',
        tests=EMPTY_EPOCH_TESTS),
    Mutation(
        name='infinite-sampler-in-mmengine-epoch-loop',
        promise="the plugin's runner refuses mmengine's epoch-based loop "
        'with an InfiniteSampler, whose first epoch never ended',
        path='mae_plugin/engine/runner.py',
        old='            check_epoch_sampler(loop.dataloader.sampler)',
        new='            pass',
        tests=('tests/test_apis/test_runner.py::'
               'test_an_infinite_sampler_in_an_epoch_loop_is_refused', )),
    Mutation(
        name='given-image-not-passed-on',
        promise="RobustLoadImageFromFile passes on an image given without "
        "img_path (mmpretrain's inferencers read their inputs themselves)",
        path='mae_plugin/datasets/transforms/loading.py',
        old="        if 'img_path' in results or 'img' not in results:",
        new='        if True:',
        tests=MMPRETRAIN_API_TESTS),
    Mutation(
        name='given-image-not-an-array-passed',
        promise="a given img that is no NumPy image is refused by name",
        path='mae_plugin/datasets/transforms/loading.py',
        old='        if not isinstance(img, np.ndarray):',
        new='        if False:',
        tests=(MMPRETRAIN_API_TESTS[0] +
               '::test_the_loader_names_what_it_misses', )),
    Mutation(
        name='mae-config-unscoped',
        promise="mmpretrain's get_model builds the plugin's MAE from a "
        'plugin pretraining config',
        path='mae_plugin/models/factory.py',
        old="        type='mae_plugin.MAE',",
        new="        type='MAE',",
        tests=MMPRETRAIN_API_TESTS),
    Mutation(
        name='mmseg-mae-default-init-values',
        promise="mmseg's MAE built as the converter's note says computes "
        "the plugin's encoder",
        path='mae_plugin/checkpoint/converters/mmseg.py',
        old='MMSEG_MAE_KWARGS = dict(init_values=1.0, ',
        new='MMSEG_MAE_KWARGS = dict(',
        tests=EXPORT_TESTS),
    Mutation(
        name='configs-without-runner-type',
        promise="mmpretrain's tools/train.py trains a plugin config with "
        "the plugin's runner (--auto-scale-lr counts accumulation)",
        path='configs/_base_/default_runtime.py',
        old="runner_type = 'mae_plugin.AccumulationAwareRunner'\n",
        new='',
        tests=('tests/test_tools/test_train_test_visualize.py::'
               'test_mmpretrain_train_py_runs_the_demo_config', )),
)
