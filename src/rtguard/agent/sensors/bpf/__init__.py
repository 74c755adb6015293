"""The eBPF sensor: kernel records from ``bpf/rtguard.bpf.c`` through libbpf, decoded to sensor records.

Modules: ``libbpf`` (the only libbpf user, ctypes), ``abi`` (mirror of ``bpf/rtguard.h``),
``decode`` (pure bytes → records), ``sensor`` (``BpfSensor``). This package file imports none
of them, so that importing the pure decoder never loads libbpf or libc bindings.
"""

__all__: list[str] = []
