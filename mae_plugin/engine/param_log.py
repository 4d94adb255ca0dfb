"""One log line per distinct parameter setting instead of one per
parameter.

mmengine's ``DefaultOptimWrapperConstructor`` logs every setting of every
parameter that a ``paramwise_cfg`` rule touches
(``paramwise_options -- backbone.layers.0.ln1.bias:weight_decay=0.0``):
77 lines for the demo's small ViT, hundreds for ViT-L, before the first
iteration, and warns about every frozen parameter it leaves out (the
fixed sin-cos position embeddings). :class:`ParamwiseOptionsSummary`
holds those lines back and, when the listing ends, logs one line per
distinct setting with the count of parameters that have it and the first
of their names.
"""
import logging
from collections import defaultdict
from typing import Dict, List, Tuple

#: How mmengine starts each line of its listing.
PARAMWISE_PREFIX = 'paramwise_options -- '
#: How mmengine ends the line of a frozen parameter.
FROZEN_SUFFIX = ' is skipped since its requires_grad=False'


class ParamwiseOptionsSummary(logging.Filter):
    """Logger filter that condenses mmengine's parameter-group listing.

    Args:
        logger (logging.Logger): The logger filtered (the runner's), which
            also logs the summary.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger
        # parameter name -> {setting: value}
        self.settings: Dict[str, Dict[str, str]] = defaultdict(dict)
        self.frozen: List[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(PARAMWISE_PREFIX):
            name, _, setting = message[len(PARAMWISE_PREFIX):].partition(':')
            key, _, value = setting.partition('=')
            self.settings[name][key] = value
            return False
        if message.endswith(FROZEN_SUFFIX):
            self.frozen.append(message[:-len(FROZEN_SUFFIX)])
            return False
        if self.settings or self.frozen:  # the listing has ended
            lines = self.summary()
            self.settings.clear()
            self.frozen.clear()
            for line in lines:
                self.logger.info(line)
        return True

    def summary(self) -> List[str]:
        """One line per distinct setting of the parameters held back, and
        one naming the frozen ones."""
        groups: Dict[Tuple[Tuple[str, str], ...],
                     List[str]] = defaultdict(list)
        for name, setting in self.settings.items():
            groups[tuple(sorted(setting.items()))].append(name)
        lines = [
            f'paramwise_cfg: {len(names)} parameter(s) with ' +
            ', '.join(f'{key}={value}' for key, value in setting) +
            f' (first: {names[0]})' for setting, names in groups.items()
        ]
        if self.frozen:
            lines.append(f'paramwise_cfg: {len(self.frozen)} frozen '
                         f'parameter(s) left out: {", ".join(self.frozen)}')
        return lines


def summarise_paramwise_options(logger: logging.Logger) -> None:
    """Add a :class:`ParamwiseOptionsSummary` to ``logger``."""
    logger.addFilter(ParamwiseOptionsSummary(logger))


#: How mmengine's runner starts the records that the console leaves out:
#: the environment, the config and the hook order (their ~350 lines stay
#: in the log file).
LONG_RECORDS = ('\n' + '-' * 60 + '\nSystem environment:', 'Config:\n',
                'Hooks will be executed in the following order:')


class LongRecordsFilter(logging.Filter):
    """Handler filter that drops the records of :data:`LONG_RECORDS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LONG_RECORDS)


def shorten_console_log(logger: logging.Logger) -> None:
    """Leave the environment, config and hook-order records out of
    ``logger``'s console (its stream handlers that write to no file) and
    say where they are, so that the log before the first iteration fits
    on a screen; the log files keep every record."""
    files = [h.baseFilename for h in logger.handlers
             if isinstance(h, logging.FileHandler)]
    for handler in logger.handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.addFilter(LongRecordsFilter())
    if files:
        logger.info(f'environment, config and hook order: in {files[0]}')
