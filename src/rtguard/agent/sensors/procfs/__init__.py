"""The procfs sensor parts: pure ``/proc`` parsers, the start-up snapshot and live look-ups.

``parse`` is pure (bytes in, data out); ``snapshot`` does the reading and never raises. This
package must not hold agent state (that is ``rtguard.agent.enrich.process_cache``) and must not
import ``rtguard.agent.enrich``: enrichment depends on sensors, not the other way round.
The start-up scan is ``rtguard.agent.sensors.procfs.snapshot.snapshot`` (not re-exported here,
so that the name ``snapshot`` keeps meaning the module).
"""

from rtguard.agent.sensors.procfs.parse import ProcParseError, ProcStat, ProcStatus
from rtguard.agent.sensors.procfs.snapshot import LiveInfo, PasswdCache, SnapshotStats, read_live

__all__ = [
    "LiveInfo",
    "PasswdCache",
    "ProcParseError",
    "ProcStat",
    "ProcStatus",
    "SnapshotStats",
    "read_live",
]
