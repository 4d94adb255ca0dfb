"""Wall times of the experiment tools survive a step of the system clock
(NTP, a manual change) while they run."""
import time

from mae_plugin.experiments.timing import Stopwatch


def test_stopwatch_wall_minutes_ignore_a_clock_set_back(monkeypatch):
    watch = Stopwatch()
    with watch('stage'):
        # the system clock goes back an hour during the stage
        now = time.time()
        monkeypatch.setattr(time, 'time', lambda: now - 3600)
        time.sleep(0.01)
    wall = watch.minutes['stage']['wall']
    assert 0.01 / 60 <= wall < 1, wall  # not about -60 minutes
