from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .masking import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .factory import mae_config  # noqa: F401
