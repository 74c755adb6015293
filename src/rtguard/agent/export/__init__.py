"""Export: bounded batching, the HTTP exporter with retry and the on-disk spool."""

from rtguard.agent.export.batch import BatchProcessor, Exporter, ExportResult, InMemoryExporter
from rtguard.agent.export.http import HttpExporter
from rtguard.agent.export.spool import DiskSpool

__all__ = ["BatchProcessor", "DiskSpool", "ExportResult", "Exporter", "HttpExporter", "InMemoryExporter"]
