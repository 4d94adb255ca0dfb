from .inference import (MASKING_STRATEGIES, Reconstruction, as_rgb,
                        build_masking, caption_lines, init_model, list_images,
                        masking_title, panel_titles, reconstruct_images,
                        reconstruction_figures, set_masking)
from .runner import (add_runner_args, build_runner, close_distributed,
                     init_cpu_distributed, parse_runner_args, test_config,
                     train_config)

__all__ = [
    'MASKING_STRATEGIES', 'Reconstruction', 'as_rgb', 'build_masking',
    'caption_lines', 'init_model', 'list_images', 'masking_title',
    'panel_titles', 'reconstruct_images',
    'reconstruction_figures', 'set_masking', 'add_runner_args',
    'build_runner',
    'close_distributed', 'init_cpu_distributed', 'parse_runner_args',
    'test_config', 'train_config'
]
