"""Agent-facing endpoints: event batches and heartbeats, authenticated by the agent token."""

from rtguard.ingest.routes import AgentRegistry, IngestLimits, build_ingest_router

__all__ = ["AgentRegistry", "IngestLimits", "build_ingest_router"]
