"""Export: bounded batching (``batch``), the HTTP exporter with retry (``http``) and the
on-disk spool (``spool``). The package imports nothing itself, so that the batch processor
does not bring the HTTP client and TLS (see ``rtguard.agent.app``: loaded after the sensor)."""
