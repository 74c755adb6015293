"""Scenario tests for ProcessInjection.Proc/.Ptrace/.VirtualMemoryWrite, PtraceAntiDebugging,
UserfaultfdUsage and KernelModuleLoaded, positive and negative."""

from __future__ import annotations

from rtguard.model.events import EmptyPayload, EventKind, ModulePayload, TargetPayload
from rtguard.testing.behaviour import found
from rtguard.testing.events import event, file_event, process

PROC = "DefenseEvasion:Runtime/ProcessInjection.Proc"
PTRACE = "DefenseEvasion:Runtime/ProcessInjection.Ptrace"
VMW = "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite"
ANTI = "DefenseEvasion:Runtime/PtraceAntiDebugging"
UFFD = "PrivilegeEscalation:Runtime/UserfaultfdUsage"
MODULE = "DefenseEvasion:Runtime/KernelModuleLoaded"
TARGET = process("nginx", pid=77)


def test_proc_mem_write_of_another_process() -> None:
    assert found(file_event("/proc/77/mem", name="python3"), PROC)
    assert not found(file_event("/proc/self/mem", name="python3"), PROC)
    assert not found(file_event("/proc/77/mem", name="gdb"), PROC)


def test_ptrace_poke_is_injection_with_target() -> None:
    e = event(EventKind.PTRACE, TargetPayload(target_pid=77, request=5, target=TARGET), name="python3")
    (d,) = found(e, PTRACE)
    assert d.context == {"targetProcess": "/usr/bin/nginx"}


def test_ptrace_attach_or_debugger_poke_is_not_injection() -> None:
    assert not found(
        event(EventKind.PTRACE, TargetPayload(target_pid=77, request=16), name="python3"), PTRACE
    )
    assert not found(event(EventKind.PTRACE, TargetPayload(target_pid=77, request=4), name="gdb"), PTRACE)


def test_process_vm_writev_into_another_process() -> None:
    e = event(
        EventKind.PROCESS_VM_WRITE, TargetPayload(target_pid=77, target=TARGET), name="python3", pid=500
    )
    (d,) = found(e, VMW)
    assert d.context == {"targetProcess": "/usr/bin/nginx"}
    own = event(EventKind.PROCESS_VM_WRITE, TargetPayload(target_pid=500), name="python3", pid=500)
    assert not found(own, VMW)


def test_ptrace_traceme_is_anti_debugging_unless_a_debugger_started_it() -> None:
    assert found(event(EventKind.PTRACE, TargetPayload(target_pid=0, request=0), name="malware"), ANTI)
    assert not found(
        event(EventKind.PTRACE, TargetPayload(target_pid=0, request=0), name="app", parent="gdb"), ANTI
    )
    assert not found(event(EventKind.PTRACE, TargetPayload(target_pid=0, request=0), name="strace"), ANTI)
    assert not found(event(EventKind.PTRACE, TargetPayload(target_pid=9, request=5), name="malware"), ANTI)


def test_userfaultfd_except_virtual_machine_monitors() -> None:
    assert found(event(EventKind.USERFAULTFD, EmptyPayload(), name="exploit"), UFFD)
    assert not found(event(EventKind.USERFAULTFD, EmptyPayload(), name="qemu-system-x86_64"), UFFD)


def test_kernel_module_load_attempt_with_context() -> None:
    payload = ModulePayload(name="rootkit", path="/tmp/rootkit.ko", sha256="ab" * 32)
    (d,) = found(event(EventKind.MODULE_LOAD, payload, name="insmod", container_id=None), MODULE)
    assert d.context == {
        "moduleName": "rootkit",
        "moduleFilePath": "/tmp/rootkit.ko",
        "moduleSha256": "ab" * 32,
    }


def test_kernel_module_loads_by_udev_and_kernel_are_not_reported() -> None:
    payload = ModulePayload(name="nf_tables")
    assert not found(event(EventKind.MODULE_LOAD, payload, name="modprobe", parent="kworker/u8:2"), MODULE)
    assert not found(event(EventKind.MODULE_LOAD, payload, name="systemd-udevd"), MODULE)
    assert found(event(EventKind.MODULE_LOAD, payload, name="modprobe", parent="bash"), MODULE)
