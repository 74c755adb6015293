"""Sensors: where raw kernel or procfs records come from (eBPF, procfs, sidecar)."""

__all__: list[str] = []
