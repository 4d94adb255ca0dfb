"""One CPU clock for the studies and sweeps, so their reports agree."""
import resource


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) of this process and of its
    finished child processes (dataloader workers)."""
    usage = [
        resource.getrusage(who)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    ]
    return sum(u.ru_utime + u.ru_stime for u in usage)
