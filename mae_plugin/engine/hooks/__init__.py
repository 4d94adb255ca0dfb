from .reconstruction_hook import (ReconstructionVisualizationHook,
                                  preserved_random_state)

__all__ = ['ReconstructionVisualizationHook', 'preserved_random_state']
