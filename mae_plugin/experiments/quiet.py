"""Hold back what mmengine's current logger is given below a level."""
import contextlib
import logging
from typing import Iterator

from mmengine.logging import MMLogger


@contextlib.contextmanager
def quiet_logger(level: int = logging.ERROR) -> Iterator[None]:
    """Inside, mmengine's current logger drops the records below ``level``
    (by default its infos and warnings): for a step whose log lines would
    only repeat those of a later one, such as a config built to be checked
    before its run builds it again (and warns) or a model's
    ``init_weights`` (an INFO line per parameter)."""
    logger = MMLogger.get_current_instance()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)
