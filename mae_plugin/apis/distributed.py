"""The process group of a distributed run: a launcher that did not start
the run refused by name, the group started on a machine without CUDA
(``--launcher pytorch`` on gloo), and ended once the run has finished."""
import gc
import os

import torch
from mmengine.config import Config
from mmengine.dist import is_distributed

# The variables each launcher sets that a run's process group is started
# from (by mmengine's ``init_dist``, which reads them as ``os.environ[...]``,
# or torch's ``env://`` rendezvous). ``LOCAL_RANK`` is exported by
# :func:`~mae_plugin.apis.parse_runner_args`; mpirun sets no
# ``MASTER_ADDR``, which mmengine asks for by name.
LAUNCHER_ENV = dict(
    pytorch=('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
    slurm=('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
    mpi=('OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_SIZE',
         'OMPI_COMM_WORLD_RANK'))
LAUNCHED_BY = dict(
    pytorch='torchrun (tools/dist_train.sh, tools/dist_test.sh)',
    slurm='srun (tools/slurm_train.sh, tools/slurm_test.sh)',
    mpi='mpirun')


def _check_launcher_env(launcher: str) -> None:
    """Refuse ``--launcher`` outside the launcher it names, by the
    environment variables that launcher sets and the run lacks."""
    missing = [name for name in LAUNCHER_ENV.get(launcher, ())
               if name not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher {launcher} starts the processes from the '
            f'environment {LAUNCHED_BY[launcher]} sets, and '
            f'{", ".join(missing)} {"is" if len(missing) == 1 else "are"} '
            'not set: start the tool with that launcher, or run one '
            'process with --launcher none')


def init_cpu_distributed(cfg: Config) -> None:
    """Start the process group of a ``--launcher pytorch`` run on a machine
    without CUDA.

    First, for any launcher but ``none``, refuse a run that its launcher
    did not start (the environment variables it sets are missing: the
    process group would fail on the first one, with mmengine's
    ``KeyError: 'RANK'`` or ``'SLURM_PROCID'``, or torch's rendezvous
    error on the CPU), unless a process group exists already.

    mmengine's ``init_dist`` for the pytorch launcher always calls
    ``torch.cuda.set_device``, which fails without a GPU. When CUDA is
    missing this starts the group itself from the launcher's environment
    (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) with the
    config's ``env_cfg.dist_cfg.backend``; the runner then finds it
    started (where a group exists already, as for the second run of a
    process, it is kept). The model is wrapped in
    ``MMDistributedDataParallel`` without ``device_ids`` unless
    ``model_wrapper_cfg`` says otherwise. Past the check, does nothing
    for other launchers or with CUDA.

    Args:
        cfg (Config): A config from :func:`~mae_plugin.apis.train_config`
            or :func:`~mae_plugin.apis.test_config`.

    Raises:
        RuntimeError: The launcher's environment variables are missing.
        ValueError: The backend is ``nccl``, which needs GPUs.
    """
    if cfg.launcher != 'none' and not is_distributed():
        _check_launcher_env(cfg.launcher)
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    if not is_distributed():
        backend = cfg.get('env_cfg', {}).get('dist_cfg',
                                             {}).get('backend', 'gloo')
        if backend == 'nccl':
            raise ValueError(
                'env_cfg.dist_cfg.backend is nccl but CUDA is not '
                "available; set env_cfg.dist_cfg.backend='gloo' for CPU "
                'training')
        torch.distributed.init_process_group(backend=backend)
    # mmengine's default wrapper passes device_ids=[LOCAL_RANK], which DDP
    # refuses for a module on the CPU.
    cfg.setdefault(
        'model_wrapper_cfg',
        dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False))


def close_distributed() -> None:
    """End the process group of a distributed run once it has finished.

    Call it when nothing refers to the runner any more (``build_runner(cfg)
    .train()`` keeps no reference). A gloo group whose last owner goes
    while the interpreter shuts down can abort the process ("terminate
    called without an active exception"), turning a finished run into a
    failed one; its worker threads run until then. ``destroy_process_group``
    alone does not end them: the runner's DDP wrapper also owns the group
    and, caught in reference cycles, lives until the interpreter's last
    garbage collection. So this collects garbage first, then every rank
    waits at a barrier and destroys the group, which ends its threads.
    Does nothing when no group was started.
    """
    if not is_distributed():
        return
    gc.collect()
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
