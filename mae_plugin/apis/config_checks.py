"""Checks of a run's config, made before the runner is built: the values
mmengine takes without a check and fails on later, naming no key (the
training length, the optimizer's and schedulers' numbers, the keys the
optimizer's class takes, the dataloaders, the seed, the widths a ViT's
neck and heads take), the spans of the lr schedule against the training
length, a simple feature pyramid built for another patch size than its
backbone's, and the input sizes of a DenseViT whose relative position
tables hold one grid.
"""
import inspect
import logging
import math
from typing import Iterator, Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log
from mmpretrain.models import VisionTransformer

from mae_plugin.engine import scheduler_cfgs
from mae_plugin.models import DenseViT
from mae_plugin.models.backbones.mae_vit import ARCH_ZOO
from mae_plugin.registry import MODELS, OPTIMIZERS
from mae_plugin.utils import (check_bool, check_int, check_number,
                              check_positive_int, check_seed,
                              innermost_dataset)


def check_train_config(cfg: Config) -> None:
    """Refuse, by key, what a training run's config sets wrong, in this
    order: the training length (:func:`_check_train_length`), the
    optimizer's and schedulers' numbers (:func:`_check_numbers`), the
    optimizer's keys (:func:`_check_optimizer_arguments`), the
    dataloaders (:func:`_check_dataloaders`, which also turns off
    ``persistent_workers`` without workers), ``randomness.seed``
    (:func:`_check_seed`), the widths the model's neck and heads take
    (:func:`_check_widths`) and the schedulers' spans
    (:func:`_check_scheduler_spans`, which warns of a schedule that does
    not end with the training), then the pyramid's patch size
    (:func:`_check_pyramid_patch_size`), the input sizes of BEiT's
    blocks (:func:`_check_relative_table_grid`) and the validation's
    top-k accuracies (:func:`_check_accuracy_topk`).

    Raises:
        TypeError: A value of the wrong type.
        ValueError: A value out of its range, an optimizer key its
            class does not take, a scheduler span that does not fit, a
            width that is not the backbone's, a pyramid's patch size or
            an input size that is not its, or a top-k accuracy of more
            classes than the head has.
    """
    _check_train_length(cfg)
    _check_numbers(cfg)
    _check_optimizer_arguments(cfg)
    _check_dataloaders(cfg)
    _check_seed(cfg)
    _check_widths(cfg)
    _check_scheduler_spans(cfg)
    _check_pyramid_patch_size(cfg)
    _check_relative_table_grid(cfg)
    _check_accuracy_topk(cfg, 'val')


def check_test_config(cfg: Config) -> None:
    """Refuse, by key, what a test run's config sets wrong: the
    dataloaders (:func:`_check_dataloaders`, which also turns off
    ``persistent_workers`` without workers), ``randomness.seed``
    (:func:`_check_seed`), the widths the model's neck and heads take
    (:func:`_check_widths`), then the pyramid's patch size
    (:func:`_check_pyramid_patch_size`), the input sizes of BEiT's
    blocks (:func:`_check_relative_table_grid`) and the test's top-k
    accuracies (:func:`_check_accuracy_topk`).

    Raises:
        TypeError: A value of the wrong type.
        ValueError: A value out of its range, a width that is not the
            backbone's, a pyramid's patch size or an input size that is
            not its, or a top-k accuracy of more classes than the head
            has.
    """
    _check_dataloaders(cfg)
    _check_seed(cfg)
    _check_widths(cfg)
    _check_pyramid_patch_size(cfg)
    _check_relative_table_grid(cfg)
    _check_accuracy_topk(cfg, 'test')


def _type_name(node: dict) -> str:
    """The name of a config node's ``type`` without its scope ('' for
    none)."""
    kind = node.get('type', '')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.rpartition('.')[2]


def _check_accuracy_topk(cfg: Config, loop: str) -> None:
    """Refuse, by key, an mmpretrain ``Accuracy`` of the ``loop``
    (``'val'`` or ``'test'``) evaluator whose ``topk`` asks for more
    classes than ``model.head.num_classes``: the metric refused it only at
    the first evaluation (for ``'val'``, once an epoch had trained),
    naming no key. Evaluators of a loop the runner does not build (its
    dataloader, config or evaluator is None) are not checked."""
    evaluator = cfg.get(f'{loop}_evaluator')
    head = cfg.get('model', {}).get('head')
    if (cfg.get(f'{loop}_dataloader') is None
            or cfg.get(f'{loop}_cfg') is None or evaluator is None
            or not isinstance(head, dict)
            or not isinstance(head.get('num_classes'), int)):
        return
    metrics = {f'{loop}_evaluator': evaluator} if isinstance(
        evaluator, dict) else {
            f'{loop}_evaluator.{i}': metric
            for i, metric in enumerate(evaluator)
        }
    for key, metric in metrics.items():
        if not isinstance(metric, dict) or _type_name(metric) != 'Accuracy':
            continue
        topk = metric.get('topk', (1, ))
        ks = (topk, ) if isinstance(topk, int) else tuple(topk)
        if max(ks) > head['num_classes']:
            raise ValueError(
                f'{key}.topk must be at most model.head.num_classes '
                f"({head['num_classes']}), got {topk!r}; e.g. --cfg-options "
                f"{_option(key + '.topk', 1)}")


def _check_pyramid_patch_size(cfg: Config) -> None:
    """Refuse a ``SimpleFeaturePyramid`` neck whose ``patch_size`` is not
    its ViT backbone's (:func:`_vit_class`; the backbone's own default
    where it sets none): it takes the backbone's map for one of another
    stride and gives levels of other strides than the heads' anchors and
    RoI extractors assume (patch 8 under a pyramid for 16: strides 2 to 32
    read as 4 to 64), and trains and tests so without an error. The
    ``patch_size`` of another backbone (a hierarchical one's first
    stride) is not its map's stride and is not compared."""
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    backbone, neck = model.get('backbone'), model.get('neck')
    if not (isinstance(backbone, dict) and isinstance(neck, dict)
            and _type_name(neck) == 'SimpleFeaturePyramid'):
        return
    kind = _vit_class(cfg, backbone)
    if kind is None:
        return
    patch = backbone.get('patch_size', _default(kind, 'patch_size', 16))
    if 'patch_size' in neck and neck['patch_size'] != patch:
        raise ValueError(
            f'model.neck.patch_size is {neck["patch_size"]!r} and '
            f'model.backbone.patch_size {patch!r}: the pyramid resamples '
            'the backbone\'s map by patch_size / stride, so its levels '
            'would not have the strides the heads expect; give the neck '
            'the backbone\'s patch size')


def _size(value) -> Optional[Tuple[int, int]]:
    """``(h, w)`` of an int or a pair; None for anything else."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return tuple(value)
    return None


def _check_relative_table_grid(cfg: Config) -> None:
    """Refuse the sizes that feed a ``DenseViT`` (or a subclass) with
    ``use_rel_pos_bias``
    (BEiT's blocks, whose tables hold the ``img_size`` grid) inputs of
    another size: ``model.data_preprocessor.size`` (the padded training
    crops) and the sliding windows of ``model.test_cfg.crop_size``. The
    backbone refused those inputs only as they came, the windows at the
    first validation, after ``val_interval`` iterations. Whole-image
    inference (``model.test_cfg.mode='whole'``) of a validation or test
    pipeline whose ``Resize`` keeps each image's aspect ratio is refused
    too."""
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    backbone = model.get('backbone')
    if not (isinstance(backbone, dict) and backbone.get('use_rel_pos_bias')):
        return
    kind = _vit_class(cfg, backbone)
    if kind is None or not issubclass(kind, DenseViT):
        return
    img_size = backbone.get('img_size', _default(kind, 'img_size', 224))
    preprocessor = model.get('data_preprocessor') or {}
    test_cfg = model.get('test_cfg') or {}
    sizes = [('model.data_preprocessor.size', preprocessor.get('size'))]
    if test_cfg.get('mode') == 'slide':
        sizes.append(('model.test_cfg.crop_size', test_cfg.get('crop_size')))
    for key, value in sizes:
        if value is not None and _size(value) != _size(img_size):
            raise ValueError(
                f'{key} is {value!r} and model.backbone.img_size '
                f'{img_size!r}: with use_rel_pos_bias '
                'the backbone takes inputs of img_size only (its relative '
                'position tables hold that grid); give both one size')
    if test_cfg.get('mode') != 'whole':
        return
    for key in ('val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        dataset = loader.get('dataset') if isinstance(loader, dict) else None
        pipeline = (innermost_dataset(dataset).get('pipeline')
                    if isinstance(dataset, dict) else None) or []
        if any(
                isinstance(step, dict) and _type_name(step) == 'Resize'
                and step.get('keep_ratio') for step in pipeline):
            raise ValueError(
                "model.test_cfg.mode is 'whole', which gives the backbone "
                f"whole images, of the sizes that {key}'s Resize with "
                'keep_ratio=True makes, and model.backbone.img_size is '
                f'{img_size!r}: with use_rel_pos_bias the backbone takes '
                'inputs of img_size only (its relative position tables '
                "hold that grid); use mode='slide' with crop_size img_size")


def _check_seed(cfg: Config) -> None:
    """Refuse, by name, a ``randomness.seed`` NumPy does not take, which
    the runner reports only as "Seed must be between 0 and 2**32 - 1"."""
    seed = (cfg.get('randomness') or {}).get('seed')
    if seed is not None:
        check_seed('randomness.seed', seed)


#: The necks that take a ViT backbone's width ``D``, by type: the key that
#: names it (None: the neck has none) and whether their outputs keep it, so
#: that the heads after them (:data:`WIDTH_HEADS`) take ``D`` too.
WIDTH_NECKS = {
    'GlobalAveragePooling': (None, True),  # mmpretrain's
    'ClsBatchNormNeck': ('input_features', True),  # mmpretrain's
    'Feature2Pyramid': ('embed_dim', True),  # mmseg's
    'SimpleFeaturePyramid': ('in_channels', False),  # the plugin's
}
#: The heads whose ``in_channels`` (an int, or one per input) is ``D``
#: after a neck that keeps it, or with no neck: the classifiers' ``head``,
#: the segmentors' ``decode_head`` and ``auxiliary_head`` (one or a list).
WIDTH_HEADS = ('head', 'decode_head', 'auxiliary_head')


def _vit_class(cfg: Config, backbone: dict) -> Optional[type]:
    """The class of ``backbone`` when it is a ViT (mmpretrain's
    ``VisionTransformer``, the classes built on it, and
    :class:`~mae_plugin.models.DenseViT`), found in the registry of the
    config's ``default_scope``; else None."""
    kind = backbone.get('type')
    if isinstance(kind, str):
        with MODELS.switch_scope_and_registry(
                cfg.get('default_scope')) as registry:
            kind = registry.get(kind)
    if isinstance(kind, type) and issubclass(kind,
                                             (VisionTransformer, DenseViT)):
        return kind
    return None


def _default(kind: type, name: str, inherited):
    """The default of argument ``name`` of class ``kind``; ``inherited``
    where it takes it through ``**kwargs`` (VisionTransformer's)."""
    parameter = inspect.signature(kind).parameters.get(name)
    return inherited if parameter is None else parameter.default


def _vit_arch(kind: type, backbone: dict):
    """The ``arch`` of a ViT ``backbone`` of class ``kind``
    (:func:`_vit_class`) as it is built: the config's, else its class's
    default (DeiT's ``'deit-base'``, EVA-02's ``'tiny'``, through
    ``**kwargs`` VisionTransformer's ``'base'``)."""
    return backbone.get('arch', _default(kind, 'arch', 'base'))


def _vit_width(kind: type, backbone: dict) -> Optional[int]:
    """The width ``D`` of the features of a ViT ``backbone`` of class
    ``kind`` (:func:`_vit_class`) where its ``arch`` (:func:`_vit_arch`)
    gives it, each class by its own ``arch_zoo``, in which ``'s'`` is
    DeiT-3's 384 but the original ViT's 768; else None, as for an
    ``arch`` the backbone itself will refuse by name."""
    arch = _vit_arch(kind, backbone)
    if isinstance(arch, str):
        arch = getattr(kind, 'arch_zoo', ARCH_ZOO).get(arch.lower())
    width = arch.get('embed_dims') if isinstance(arch, dict) else None
    return width if isinstance(width, int) else None


def _width_keys(model: dict) -> Iterator[Tuple[str, object]]:
    """``(key, value)`` of each setting of ``model`` that must be its
    backbone's width (a list: the width for each input): the neck's key of
    :data:`WIDTH_NECKS`, then the ``in_channels`` of :data:`WIDTH_HEADS`
    if the neck (or its absence) keeps the width; an unknown neck ends
    the list."""
    neck = model.get('neck')
    if neck is not None:
        if not isinstance(neck, dict):
            return
        key, keeps = WIDTH_NECKS.get(_type_name(neck), (None, False))
        if key is not None and key in neck:
            yield f'model.neck.{key}', neck[key]
        if not keeps:
            return
    for name in WIDTH_HEADS:
        heads = model.get(name)
        many = isinstance(heads, (list, tuple))
        for i, head in enumerate(heads if many else [heads]):
            if not isinstance(head, dict) or 'in_channels' not in head:
                continue
            key = f'model.{name}.{i}' if many else f'model.{name}'
            yield f'{key}.in_channels', head['in_channels']


def _check_widths(cfg: Config) -> None:
    """Refuse, by key, a neck or head width (:func:`_width_keys`) other
    than the ViT backbone's (:func:`_vit_class`, :func:`_vit_width`). The
    fine-tuning, linear and transfer configs write the width beside
    ``arch``; a child config (or ``--cfg-options``) that changed ``arch``
    alone built the model and failed at the first iteration, in a matrix
    product or a BatchNorm, naming no key."""
    model = cfg.get('model')
    if not isinstance(model, dict) or not isinstance(
            model.get('backbone'), dict):
        return
    kind = _vit_class(cfg, model['backbone'])
    width = None if kind is None else _vit_width(kind, model['backbone'])
    if width is None:
        return
    wrong = []
    for key, value in _width_keys(model):
        # one width per input of a head of several (mmseg's UPerHead)
        several = isinstance(value, (list, tuple))
        right = [width] * len(value) if several else width
        if (list(value) if several else value) != right:
            wrong.append((key, value, right))
    if wrong:
        arch = _vit_arch(kind, model['backbone'])
        raise ValueError(
            f'model.backbone (arch={arch!r}) gives features of width '
            f'{width}, but ' + ', '.join(f'{key}={value!r}'
                                         for key, value, _ in wrong) +
            ': set ' + ' '.join(f'{key}={right!r}'.replace(' ', '')
                                for key, _, right in wrong))


def _check_train_length(cfg: Config) -> None:
    """Refuse, by name, a ``train_cfg`` length (``max_epochs``,
    ``max_iters``) or ``val_interval`` below 1: mmengine's loops run no
    epoch for a length of 0 or less and end with exit status 0 (with
    ``--resume``, of a run that trained nothing), or divide by a zero
    ``val_interval``; a length that is not an int failed in the schedule
    check with a ``TypeError`` that named no key."""
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_epochs', 'max_iters', 'val_interval'):
        if key in train_cfg:
            check_positive_int(f'train_cfg.{key}', train_cfg[key])


# Settings of torch's optimizers and mmengine's schedulers that are numbers
# (their lower bound): a string from ``--cfg-options`` failed only once the
# model and the datasets were built (an optimizer's), or when the scheduler
# started, epochs into the run (``eta_min=abc`` at the cosine's start),
# with a bare ``TypeError`` of operands.
OPTIMIZER_NUMBERS = dict(lr=0, weight_decay=0, eps=0, momentum=0)
SCHEDULER_NUMBERS = dict(
    begin=0, end=0, T_max=0, eta_min=None, eta_min_ratio=None,
    start_factor=None, end_factor=None, factor=None, gamma=None,
    power=None)


def _check_numbers(cfg: Config) -> None:
    """Refuse, by key, a setting of ``optim_wrapper.optimizer`` or of a
    ``param_scheduler`` in :data:`OPTIMIZER_NUMBERS` or
    :data:`SCHEDULER_NUMBERS` that is not a number (or is below its
    bound), ``optimizer.betas`` that are not two numbers in [0, 1), and an
    ``optim_wrapper.accumulative_counts`` below 1."""
    optim_wrapper = cfg.get('optim_wrapper') or {}
    optimizer = optim_wrapper.get('optimizer') or {}
    for key, low in OPTIMIZER_NUMBERS.items():
        if optimizer.get(key) is not None:
            check_number(f'optim_wrapper.optimizer.{key}', optimizer[key],
                         low)
    betas = optimizer.get('betas')
    if betas is not None:
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise TypeError('optim_wrapper.optimizer.betas must be two '
                            f'numbers in [0, 1), got {betas!r}')
        for i, beta in enumerate(betas):
            check_number(f'optim_wrapper.optimizer.betas[{i}]', beta, 0, 1,
                         high_open=True)
    if 'accumulative_counts' in optim_wrapper:
        check_positive_int('optim_wrapper.accumulative_counts',
                           optim_wrapper['accumulative_counts'])
    for i, scheduler in enumerate(
            scheduler_cfgs(cfg.get('param_scheduler')) or []):
        for key, low in SCHEDULER_NUMBERS.items():
            if scheduler.get(key) is not None:
                check_number(f'param_scheduler[{i}].{key}', scheduler[key],
                             -math.inf if low is None else low)


def _option(key: str, value) -> str:
    """``key=value`` as ``--cfg-options`` takes it (no spaces, a string
    bare)."""
    text = value if isinstance(value, str) else repr(value)
    return f'{key}={text}'.replace(' ', '')


def _check_optimizer_arguments(cfg: Config) -> None:
    """Refuse, by key, an ``optim_wrapper.optimizer`` key that the
    optimizer class (its ``type``, found in the registry of the config's
    ``default_scope``, as mmengine's optimizer constructor finds it) takes
    no argument of; a class with ``**kwargs`` takes any. ``--cfg-options
    optim_wrapper.optimizer.type=SGD`` on an AdamW config kept its
    ``betas``, and SGD's constructor failed once the model and the
    datasets were built, with a ``TypeError`` naming no key. An unknown
    ``type`` is left to the registry's own error."""
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer')
    if not isinstance(optimizer, dict):
        return
    kind = optimizer.get('type')
    if isinstance(kind, str):
        with OPTIMIZERS.switch_scope_and_registry(
                cfg.get('default_scope')) as registry:
            kind = registry.get(kind)
    if not isinstance(kind, type):
        return
    parameters = inspect.signature(kind).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = [key for key in optimizer
               if key != 'type' and key not in parameters]
    if not unknown:
        return
    name = 'optim_wrapper.optimizer'
    # the first argument takes the model's parameters (the constructor's)
    takes = list(parameters)[1:]
    kept = [_option(f'{name}.{key}', value)
            for key, value in optimizer.items() if key not in unknown]
    one = len(unknown) == 1
    raise ValueError(
        ' and '.join(f'{name}.{key}' for key in unknown) +
        f' must be {"an argument" if one else "arguments"} of '
        f'{kind.__name__} ({kind.__module__}.{kind.__qualname__}), which '
        f'takes {", ".join(takes)}: a key of the config\'s optimizer stays '
        f'when {name}.type changes. Give the optimizer anew without '
        f'{"it" if one else "them"}: --cfg-options {name}._delete_=True '
        f'{" ".join(kept)} (the keys given are all it keeps), or in a '
        'child config optim_wrapper = dict(optimizer=dict(_delete_=True, '
        '...))')


# The switches of a dataloader and of its sampler that the configs set: a
# string from ``--cfg-options`` (``shuffle=abc``) passed as true, or failed
# in torch's ``BatchSampler`` once the model and datasets were built.
LOADER_BOOLS = ('drop_last', 'pin_memory', 'persistent_workers')
SAMPLER_BOOLS = ('shuffle', )


def _check_dataloaders(cfg: Config) -> None:
    """Refuse, by key, a ``batch_size`` below 1 or a ``num_workers`` below
    0 of the train, val and test dataloaders (torch's comparison errors
    came once the datasets were built, naming no key), and a switch of a
    loader (:data:`LOADER_BOOLS`) or of its sampler
    (:data:`SAMPLER_BOOLS`) that is not a bool; turn off
    ``persistent_workers`` where ``num_workers`` is 0: torch refuses the
    pair ("persistent_workers option needs num_workers > 0"), which the
    configs' ``persistent_workers=True`` met whenever a run set
    ``num_workers=0`` to debug in one process."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if not isinstance(loader, dict):
            continue
        if 'batch_size' in loader:
            check_positive_int(f'{key}.batch_size', loader['batch_size'])
        sampler = loader.get('sampler')
        for node, name, switches in (
                (loader, key, LOADER_BOOLS),
                (sampler if isinstance(sampler, dict) else {},
                 f'{key}.sampler', SAMPLER_BOOLS)):
            for switch in switches:
                if switch in node:
                    check_bool(f'{name}.{switch}', node[switch])
        workers = check_int(f'{key}.num_workers',
                            loader.get('num_workers', 0), minimum=0)
        if workers == 0 and loader.get('persistent_workers'):
            loader['persistent_workers'] = False
            print_log(f'{key}.persistent_workers set to False: there are '
                      'no workers to keep (num_workers=0)', logger='current')


def _check_scheduler_spans(cfg: Config) -> None:
    """Check ``param_scheduler`` against ``train_cfg.max_epochs``, which
    ends every epoch-based scheduler without an ``end`` (mmengine's
    default) and nothing else: ``--cfg-options train_cfg.max_epochs=N``
    alone leaves a schedule with its own ``end`` (the ImageNet recipes')
    as it is.

    Refuses, by name, a scheduler whose own ``end`` is not after its
    ``begin`` (any ``train_cfg``), and one without an ``end`` that begins at
    ``max_epochs`` or later (``max_epochs`` cut to the warm-up or below):
    mmengine reports both only as "end should be larger than begin" in
    iterations while the runner builds the schedulers. Warns, in the
    current logger, of a scheduler whose own ``end`` lies after
    ``max_epochs`` (the run stops before its schedule ends), and of epoch
    schedulers that all end before it (the last epochs keep the lr the
    schedule ends with).
    """
    max_epochs = (cfg.get('train_cfg') or {}).get('max_epochs')
    schedulers = scheduler_cfgs(cfg.get('param_scheduler')) or []
    fewest, reason, bound = _fewest_epochs(schedulers)
    if max_epochs is not None and max_epochs < fewest:
        raise ValueError(f'train_cfg.max_epochs must be above {fewest - 1}, '
                         f'where {reason}, got {max_epochs}'
                         f'{_shorter_run_hint(schedulers, bound)}')
    ends = []
    for i, scheduler in enumerate(schedulers):
        begin, end = scheduler.get('begin', 0), scheduler.get('end')
        name = f'param_scheduler[{i}] ({scheduler.get("type")})'
        if end is not None and end <= begin:
            unit = 'epochs' if scheduler.get('by_epoch', True) else (
                'iterations')
            raise ValueError(f'{name} must end after it begins, got begin='
                             f'{begin} and end={end} ({unit})')
        if max_epochs is None:
            continue
        if not scheduler.get('by_epoch', True):
            ends.append((None, scheduler))  # in iterations
            continue
        if end is not None and end > max_epochs:
            print_log(f'{name} ends at epoch {end}, after '
                      f'train_cfg.max_epochs={max_epochs}: training stops '
                      f'before its schedule ends{_t_max_hint(scheduler)}',
                      logger='current', level=logging.WARNING)
        ends.append((end, scheduler))
    if ends and all(end is not None for end, _ in ends):
        end, last = max(ends, key=lambda pair: pair[0])
        if end < max_epochs:
            print_log(f'param_scheduler ends at epoch {end}, before '
                      f'train_cfg.max_epochs={max_epochs}: the last '
                      f'{max_epochs - end} epochs keep the lr it ends with'
                      f'{_t_max_hint(last)}', logger='current',
                      level=logging.WARNING)


def fewest_epochs(cfg: Config) -> Tuple[int, str]:
    """The fewest ``train_cfg.max_epochs`` that the config's
    ``param_scheduler`` takes, and why.

    An epoch-based scheduler without an ``end`` of its own runs to the end
    of training (mmengine's default ``end``), which must come after its
    ``begin``: a warm-up of ``w`` epochs followed by such a cosine needs
    ``w + 1`` epochs. Schedulers with their own ``end`` or in iterations
    set no bound.

    Args:
        cfg (Config): A config, its options merged.

    Returns:
        tuple[int, str]: The fewest epochs (1 where no scheduler bounds
        them) and the reason, e.g. ``'param_scheduler[1]
        (CosineAnnealingLR) begins and runs to the end of training'``
        (``''`` for 1).
    """
    fewest, reason, _ = _fewest_epochs(
        scheduler_cfgs(cfg.get('param_scheduler')) or [])
    return fewest, reason


def _fewest_epochs(schedulers: list) -> Tuple[int, str, Optional[int]]:
    """:func:`fewest_epochs` of the scheduler configs ``schedulers``, and
    the index of the scheduler that bounds them (None where none does)."""
    fewest, reason, bound = 1, '', None
    for i, scheduler in enumerate(schedulers):
        begin = scheduler.get('begin', 0)
        if (scheduler.get('by_epoch', True) and scheduler.get('end') is None
                and begin + 1 > fewest):
            fewest, bound = begin + 1, i
            reason = (f'param_scheduler[{i}] ({scheduler.get("type")}) '
                      'begins and runs to the end of training')
    return fewest, reason, bound


def _shorter_run_hint(schedulers: list, i: int) -> str:
    """How a run shorter than ``schedulers[i]``, which runs to the end of
    training, moves its start: with the ends of the schedulers before it
    that end there (the warm-up's)."""
    begin = schedulers[i].get('begin', 0)
    moves = [
        f'param_scheduler.{j}.end'
        for j, earlier in enumerate(schedulers[:i])
        if earlier.get('end') == begin
    ]
    if not moves:
        return ''
    return (f' (a shorter run also moves its start, '
            f'param_scheduler.{i}.begin, with {" and ".join(moves)})')


def _t_max_hint(scheduler: dict) -> str:
    """How to move the end of a scheduler with a ``T_max`` (a cosine):
    its ``T_max`` is ``end - begin``."""
    if 'T_max' not in scheduler:
        return ''
    return (f' (set its end with max_epochs and T_max to end - '
            f'{scheduler.get("begin", 0)})')
