"""Wall times of the experiment tools survive a step of the system clock
(NTP, a manual change) while they run."""
import time

import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mae_plugin.experiments.timing import EpochStatsHook, Stopwatch
from tests.test_engine.utils import tiny_train_cfg
from tests.test_tools.test_train_test_visualize import photos  # noqa: F401


def set_clock_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system clock (``time.time``) goes back an hour from now on."""
    now = time.time()
    monkeypatch.setattr(time, 'time', lambda: now - 3600)


def test_stopwatch_wall_minutes_ignore_a_clock_set_back(monkeypatch):
    watch = Stopwatch()
    with watch('stage'):
        set_clock_back(monkeypatch)
        time.sleep(0.01)
    wall = watch.minutes['stage']['wall']
    assert 0.01 / 60 <= wall < 1, wall  # not about -60 minutes


class ClockSetBack(Hook):
    """Sets the clock back once training started (see
    :func:`set_clock_back`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def before_train_epoch(self, runner) -> None:
        set_clock_back(self.monkeypatch)


def test_epoch_stats_wall_minutes_ignore_a_clock_set_back(
        photos, tmp_path, monkeypatch):  # noqa: F811
    runner = Runner.from_cfg(
        tiny_train_cfg(photos, str(tmp_path), 'train_cfg.max_epochs=1'))
    stats = EpochStatsHook()
    runner.register_hook(stats)
    runner.register_hook(ClockSetBack(monkeypatch))
    runner.train()
    (epoch, ) = stats.history
    # not about -60 minutes (nor +60); the upper bound is no speed target:
    # the epoch takes seconds, a loaded machine may take minutes
    assert 0 < epoch['wall_minutes'] < 30, epoch
