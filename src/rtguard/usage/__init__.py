"""Usage: monitored vCPU-seconds metered from agent heartbeats, priced with GuardDuty Runtime
Monitoring's tiers, and shown through the API, ``/metrics`` and ``rtguard usage``.

Pure parts (``accrual``, ``pricing``, ``report``) and one imperative shell (``meter``); ``cli``
is the command. Nothing is re-exported here: ``rtguard.cli`` imports ``usage.cli`` while building
its parser, which the agent shares, so importing this package must stay free of the store,
SQLAlchemy and rich. Importing it must not open the store or start threads.
"""

__all__: list[str] = []
