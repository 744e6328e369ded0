"""The Dagster daemon's heartbeats, as the API's liveness check and ``/metrics/app/`` read them.

The daemon (schedules, sensors, the alert sensor itself) writes a heartbeat per daemon type to
the instance about every 30 s. A required daemon type whose newest heartbeat is older than
``ADINSIGHTS_DAEMON_HEARTBEAT_STALE_SECONDS`` (90 s: three missed beats), or that has none while
others beat, is *stale*: the daemon died or hangs, and nothing schedules or alerts. No heartbeat
at all is *missing*: no daemon has ever run against this instance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dagster import DagsterInstance

OK, STALE, MISSING = "ok", "stale", "missing"


@dataclass(frozen=True)
class DaemonHeartbeats:
    #: Unix time of each required daemon type's newest heartbeat (None: it has none).
    last_beat: dict[str, float | None]

    def ages(self, now: float) -> dict[str, float]:
        """Seconds since each required daemon type's heartbeat; +Inf for one that has none."""
        return {
            daemon: math.inf if beat is None else max(0.0, now - beat)
            for daemon, beat in self.last_beat.items()
        }

    def status(self, now: float, stale_after_seconds: float) -> tuple[str, str]:
        """``ok``/``stale``/``missing`` and a one-line detail."""
        if all(beat is None for beat in self.last_beat.values()):
            return MISSING, "no Dagster daemon heartbeat recorded: is dagster-daemon running?"
        ages = self.ages(now)
        late = sorted(d for d, age in ages.items() if age > stale_after_seconds)
        if not late:
            return OK, f"newest heartbeats {max(ages.values()):.0f}s old at most"
        worst = max(ages[d] for d in late)
        return STALE, (
            f"heartbeat older than {stale_after_seconds:.0f}s ({worst:.0f}s) from: "
            + ", ".join(late)
        )


def read_heartbeats(instance: DagsterInstance) -> DaemonHeartbeats:
    beats = instance.get_daemon_heartbeats()
    return DaemonHeartbeats(
        {
            daemon: (beats[daemon].timestamp if daemon in beats else None)
            for daemon in sorted(instance.get_required_daemon_types())
        }
    )
