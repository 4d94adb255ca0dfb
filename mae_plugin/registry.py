"""Registries of the ``mae_plugin`` scope.

Every registry is a child of mmpretrain's registry of the same kind (which
is itself a child of mmengine's root); ``FUNCTIONS`` (collate functions),
which mmpretrain has not, is a child of mmengine's. Two consequences follow
from how :class:`mmengine.registry.Registry` resolves names:

* With ``default_scope='mae_plugin'`` a config finds our modules first and
  falls back to the parents, so every mmpretrain and mmengine module stays
  reachable by its plain name. Our ``MAEViT``/``MAE`` shadow mmpretrain's
  registered modules of the same names only inside this scope.
* Under any other default scope (``mmdet``, ``mmseg``, ...) a type written
  as ``'mae_plugin.X'`` is looked up among the *direct* children of
  mmengine's root registry only (``Registry.get`` in mmengine 0.10), so a
  grandchild would not be found. Each registry is therefore also listed
  among the root's children, once ``mae_plugin`` has been imported (for
  example through ``custom_imports``).

Components that build sub-modules (a backbone's masking generator, the
algorithm's backbone/neck/head) use :func:`build_model`, which resolves
names in this scope whatever the caller's default scope is.

``locations`` lists the modules that register into each registry, so a
registry imports them on first use.
"""
from mmengine import registry as mmengine_registry
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

SCOPE = 'mae_plugin'


def _child(name: str,
           *locations: str,
           parents=mmpretrain_registry) -> Registry:
    parent = getattr(parents, name)
    registry = Registry(
        parent.name,
        parent=parent,
        scope=SCOPE,
        locations=[f'{SCOPE}.{location}' for location in locations])
    root = registry._get_root_registry()
    if SCOPE not in root.children:
        root._add_child(registry)
    return registry


RUNNERS = _child('RUNNERS', 'engine')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS', 'engine')
LOOPS = _child('LOOPS', 'engine')
HOOKS = _child('HOOKS', 'engine')
LOG_PROCESSORS = _child('LOG_PROCESSORS', 'engine')
OPTIMIZERS = _child('OPTIMIZERS', 'engine')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS', 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS', 'engine')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS', 'engine')
DATASETS = _child('DATASETS', 'datasets')
DATA_SAMPLERS = _child('DATA_SAMPLERS', 'datasets')
TRANSFORMS = _child('TRANSFORMS', 'datasets')
FUNCTIONS = _child('FUNCTIONS', 'datasets', parents=mmengine_registry)
MODELS = _child('MODELS', 'models')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS', 'models')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS', 'models', 'checkpoint')
BATCH_AUGMENTS = _child('BATCH_AUGMENTS', 'models')
TASK_UTILS = _child('TASK_UTILS', 'models')
METRICS = _child('METRICS', 'evaluation')
EVALUATORS = _child('EVALUATORS', 'evaluation')
VISUALIZERS = _child('VISUALIZERS', 'visualization')
VISBACKENDS = _child('VISBACKENDS', 'visualization')


def build_model(cfg):
    """Build a model component with names resolved in the ``mae_plugin``
    scope (then its parents), whatever the current default scope is.

    Args:
        cfg (dict | nn.Module | object): A config, or an already built
            object, returned as is.
    """
    if not isinstance(cfg, dict):
        return cfg
    with MODELS.switch_scope_and_registry(SCOPE) as registry:
        return registry.build(cfg)
