"""The eBPF sensor: kernel records from ``bpf/rtguard.bpf.c`` through libbpf, decoded to sensor records."""

__all__: list[str] = []
