from .generators import (BaseMasking, BlockMasking, GridMasking, Masking,
                         RandomMasking, masking_from_noise)

__all__ = ['BaseMasking', 'BlockMasking', 'GridMasking', 'Masking',
           'RandomMasking', 'masking_from_noise']
