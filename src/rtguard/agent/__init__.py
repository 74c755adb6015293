"""The security agent: sensors, enrichment and export, shipped to every node and task.

It must never import ``rtguard.detect``, ``rtguard.store``, ``rtguard.bus`` or ``rtguard.api``:
it stays small and depends only on ``rtguard.model`` and its own subpackages.
"""

__all__: list[str] = []
