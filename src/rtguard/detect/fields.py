"""The field catalogue: every field a rule condition, output or context may name.

Names follow Falco where the meaning is the same (``proc.name``, ``fd.sip``, ``container.id``);
fields Falco does not have are marked "rtguard". Each ``FieldSpec`` carries its type, the event
kinds that give it a value, its argument form and a factory that builds a typed extractor once
per use. ``resolve_field`` turns a parsed ``FieldRef`` into a ``ResolvedField`` or a
``FieldError``; ``render_fields_markdown`` prints ``docs/fields.md``. ``EVTTYPE_ALIASES`` maps
Falco syscall names to our event kinds. This module must not parse conditions, must not know
operators and must not do I/O (the docs file is written by whoever calls the renderer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from rtguard.detect import behaviour_extractors as bx
from rtguard.detect import extractors as x
from rtguard.detect import payload_extractors as px
from rtguard.detect.condition.ast import FieldRef
from rtguard.detect.extractors import Extractor
from rtguard.model.events import Event, EventKind, LibraryPayload

K = EventKind


class FieldType(StrEnum):
    """What kind of value a field holds; it decides which operators and values are valid."""

    STRING = "string"
    INT = "int"
    BOOL = "bool"
    IP = "ipaddr"
    EVTTYPE = "evttype"


class ArgKind(StrEnum):
    """The argument a field takes in brackets."""

    NONE = "none"
    INDEX = "index"  # proc.argv[N], optional: without it the field holds every value
    KEY = "key"  # proc.env[NAME], required


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSpec:
    """One field of the catalogue.

    ``multi`` fields hold several values (all ancestors, all DNS answers): every operator
    matches when any value matches, ``!=`` when none is equal. For ``ArgKind.INDEX`` fields
    the bracketed form is single-valued. ``kinds`` lists the event kinds that give the field a
    value (``None``: every kind). ``falco`` is true when Falco has the field with this meaning.
    """

    name: str
    type: FieldType
    doc: str
    group: str
    falco: bool
    kinds: frozenset[EventKind] | None = None
    arg: ArgKind = ArgKind.NONE
    multi: bool = False
    plain: Extractor | None = None
    with_arg: Callable[[str], Extractor | str] | None = None


@dataclass(frozen=True, slots=True)
class ResolvedField:
    """A field reference checked against the catalogue, with its extractor built."""

    spec: FieldSpec
    arg: str | None
    extract: Extractor
    multi: bool

    @property
    def type(self) -> FieldType:
        return self.spec.type

    @property
    def label(self) -> str:
        return self.spec.name if self.arg is None else f"{self.spec.name}[{self.arg}]"


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why a field reference does not resolve; ``unknown`` is true for an unknown name."""

    message: str
    unknown: bool


# -- event-type aliases -------------------------------------------------------------------------

_FILE_KINDS: Final = frozenset(
    {K.FILE_WRITE, K.FILE_RENAME, K.FILE_LINK, K.FILE_SYMLINK, K.FILE_UNLINK, K.FILE_CHMOD}
)
_NET_KINDS: Final = frozenset({K.NET_CONNECT, K.NET_ACCEPT, K.NET_BIND, K.NET_LISTEN, K.STDIO_REDIRECT})
_REMOTE_KINDS: Final = frozenset({K.NET_CONNECT, K.NET_ACCEPT, K.STDIO_REDIRECT})
_FD_KINDS: Final = _FILE_KINDS | _NET_KINDS | {K.UNIX_CONNECT}
_TARGET_KINDS: Final = frozenset({K.PTRACE, K.PROCESS_VM_WRITE})


def _aliases(kind: EventKind, *names: str) -> dict[str, frozenset[EventKind]]:
    return {n: frozenset({kind}) for n in names}


# Falco's syscall names, each mapped to the kinds of event we record for that call. Opening a
# file is recorded only when it is for writing, so open/openat map to file_write.
EVTTYPE_ALIASES: Final[Mapping[str, frozenset[EventKind]]] = {
    **{k.value: frozenset({k}) for k in EventKind},
    **_aliases(K.PROCESS_EXEC, "execve", "execveat"),
    **_aliases(K.PROCESS_EXIT, "procexit", "exit", "exit_group"),
    **_aliases(K.PROCESS_FORK, "clone", "clone3", "fork", "vfork"),
    "connect": frozenset({K.NET_CONNECT, K.UNIX_CONNECT}),
    **_aliases(K.NET_ACCEPT, "accept", "accept4"),
    **_aliases(K.NET_BIND, "bind"),
    **_aliases(K.NET_LISTEN, "listen"),
    **_aliases(K.STDIO_REDIRECT, "dup", "dup2", "dup3"),
    **_aliases(K.FILE_WRITE, "open", "openat", "openat2", "creat"),
    **_aliases(K.FILE_RENAME, "rename", "renameat", "renameat2"),
    **_aliases(K.FILE_LINK, "link", "linkat"),
    **_aliases(K.FILE_SYMLINK, "symlink", "symlinkat"),
    **_aliases(K.FILE_UNLINK, "unlink", "unlinkat"),
    **_aliases(K.FILE_CHMOD, "chmod", "fchmod", "fchmodat"),
    **_aliases(K.PROCESS_VM_WRITE, "process_vm_writev"),
    **_aliases(K.MODULE_LOAD, "init_module", "finit_module"),
    **_aliases(K.CRED_CHANGE, "setuid", "setreuid", "setresuid", "setgid", "setregid", "setresgid"),
}


# -- the catalogue ------------------------------------------------------------------------------

_CATALOGUE: list[FieldSpec] = []


def _f(
    group: str,
    name: str,
    ftype: FieldType,
    plain: Extractor | None,
    doc: str,
    *,
    falco: bool = True,
    kinds: Iterable[EventKind] | None = None,
    arg: ArgKind = ArgKind.NONE,
    multi: bool = False,
    with_arg: Callable[[str], Extractor | str] | None = None,
) -> None:
    _CATALOGUE.append(
        FieldSpec(
            name=name,
            type=ftype,
            doc=doc,
            group=group,
            falco=falco,
            kinds=None if kinds is None else frozenset(kinds),
            arg=arg,
            multi=multi,
            plain=plain,
            with_arg=with_arg,
        )
    )


def _index(factory: Callable[[int], Extractor]) -> Callable[[str], Extractor | str]:
    def build(arg: str) -> Extractor | str:
        if not arg.isdigit():
            return f"the argument must be a number 0 or more, not {arg!r}"
        return factory(int(arg))

    return build


def _env(arg: str) -> Extractor | str:
    found = x.ENV_EXTRACTORS.get(arg)
    if found is None:
        return f"only {', '.join(sorted(x.ENV_EXTRACTORS))} are recorded, not {arg!r}"
    return found


STR, NUM, BOOL, IP = FieldType.STRING, FieldType.INT, FieldType.BOOL, FieldType.IP


def _library_path(e: Event) -> str | None:
    p = e.payload
    return (p.path or None) if isinstance(p, LibraryPayload) else None


def _library_is_upper_layer(e: Event) -> bool | None:
    p = e.payload
    return p.written_after_start if isinstance(p, LibraryPayload) else None


# fmt: off

_f("evt", "evt.type", FieldType.EVTTYPE, x.evt_type,
   "Event kind (`process_exec`, `net_connect`, …). Comparisons also accept Falco syscall names "
   "(`execve`, `connect`, `openat`, …), mapped to the kinds we record.")
_f("evt", "evt.time", NUM, x.evt_time, "Wall-clock time of the event, nanoseconds since the epoch.")
_f("evt", "evt.rawtime", NUM, x.evt_time, "Same as `evt.time`.")
_f("evt", "evt.rawres", NUM, x.evt_rawres,
   "Return value of the call: the sensor records successful calls (0), except mount attempts.")
_f("evt", "evt.hostname", STR, x.evt_hostname, "Host name of the machine the agent runs on.")
_f("evt", "host.instance_id", STR, x.host_instance_id, "EC2 instance id of the host, when known.", falco=False)
_f("evt", "evt.arg.filename", STR, x.evt_arg_filename,
   "File passed to execve, as given (a script, a symlink, a relative path).", kinds=(K.PROCESS_EXEC,))
_f("evt", "evt.arg.flags", NUM, px.evt_arg_flags, "Flags of the call (open, mount, memfd_create).",
   kinds=(*_FILE_KINDS, K.MOUNT, K.MEMFD_CREATE))
_f("evt", "evt.arg.mode", NUM, px.evt_arg_mode, "File mode of the call (chmod, creat).", kinds=_FILE_KINDS)
_f("evt", "evt.arg.request", NUM, px.evt_arg_request, "ptrace request number.", kinds=(K.PTRACE,))
_f("evt", "evt.arg.pid", NUM, px.evt_arg_pid, "Target pid of ptrace or process_vm_writev.", kinds=_TARGET_KINDS)
_f("evt", "evt.arg.name", STR, px.evt_arg_name, "Name given to memfd_create, or the kernel module name.",
   kinds=(K.MEMFD_CREATE, K.MODULE_LOAD))
_f("evt", "evt.arg.uid", NUM, px.evt_arg_uid, "New uid of a credential change.", kinds=(K.CRED_CHANGE,))
_f("evt", "evt.arg.euid", NUM, px.evt_arg_euid, "New effective uid of a credential change.", kinds=(K.CRED_CHANGE,))
_f("evt", "evt.arg.gid", NUM, px.evt_arg_gid, "New gid of a credential change.", kinds=(K.CRED_CHANGE,))

_f("proc", "proc.name", STR, x.proc_name,
   "Process name as the agent records it: the base name of the executable file. Falco's is the "
   "kernel's comm, which differs for symlinks (`sh` runs `dash`), busybox applets and scripts run "
   "directly; `proc.names` matches all of them.")
_f("proc", "proc.names", STR, x.proc_names,
   "Every name the process goes by: `proc.name`, the base name of argv[0] and, on `process_exec`, "
   "of the executed file (`sh`, `wget` for a busybox applet, `linpeas.sh` for a script).",
   falco=False, multi=True)
_f("proc", "proc.exe", STR, x.proc_exe, "First command-line argument (argv[0]) as the process was started.")
_f("proc", "proc.exepath", STR, x.proc_exepath, "Full path of the executable.")
_f("proc", "proc.cmdline", STR, x.proc_cmdline,
   "`proc.name` then the arguments after argv[0], separated by spaces: `curl -s http://x`.")
_f("proc", "proc.args", STR, x.proc_args, "Arguments after argv[0], separated by spaces.")
_f("proc", "proc.argv", STR, x.proc_argv_all,
   "Command-line arguments: `proc.argv[N]` is argv[N]; without an index, every argument "
   "including argv[0] (matches when any does).",
   falco=False, arg=ArgKind.INDEX, multi=True, with_arg=_index(x.proc_argv_at))
_f("proc", "proc.pid", NUM, x.proc_pid, "Process id on the host.")
_f("proc", "proc.vpid", NUM, x.proc_vpid, "Process id inside its pid namespace (container).")
_f("proc", "proc.ppid", NUM, x.proc_ppid, "Parent process id on the host.")
_f("proc", "proc.pname", STR, x.proc_pname, "Name of the parent process.")
_f("proc", "proc.pexepath", STR, x.proc_pexepath, "Executable path of the parent process.")
_f("proc", "proc.aname", STR, x.proc_aname_all,
   "Name of an ancestor: `proc.aname[1]` is the parent, `[2]` the grandparent, `[0]` the process "
   "itself; without an index, matches when any ancestor matches.",
   arg=ArgKind.INDEX, multi=True, with_arg=_index(x.proc_aname_at))
_f("proc", "proc.apid", NUM, x.proc_apid_all, "Pid of an ancestor, indexed like `proc.aname`.",
   arg=ArgKind.INDEX, multi=True, with_arg=_index(x.proc_apid_at))
_f("proc", "proc.aexepath", STR, x.proc_aexepath_all, "Executable path of an ancestor, indexed like `proc.aname`.",
   arg=ArgKind.INDEX, multi=True, with_arg=_index(x.proc_aexepath_at))
_f("proc", "proc.cwd", STR, x.proc_cwd, "Current working directory.")
_f("proc", "proc.duration", NUM, x.proc_duration, "Nanoseconds since the process started.")
_f("proc", "proc.start_time", NUM, x.proc_start_time, "Process start, nanoseconds since the epoch.", falco=False)
_f("proc", "proc.sha256", STR, x.proc_sha256, "SHA-256 of the executable (hex), when computed.", falco=False)
_f("proc", "proc.exec_id", STR, x.proc_exec_id, "Stable process identity (survives pid reuse).", falco=False)
_f("proc", "proc.pexec_id", STR, x.proc_pexec_id, "`proc.exec_id` of the parent.", falco=False)
_f("proc", "proc.is_exe_upper_layer", BOOL, x.proc_is_exe_upper_layer,
   "The executable was written or modified after the container started.")
_f("proc", "proc.is_exe_from_memfd", BOOL, x.proc_is_exe_from_memfd, "The executable is an in-memory file (memfd).")
_f("proc", "proc.is_argv_truncated", BOOL, x.proc_is_argv_truncated,
   "The sensor cut the command line short.", falco=False)
_f("proc", "proc.env", STR, None,
   "An environment variable: only `proc.env[LD_PRELOAD]` and `proc.env[LD_LIBRARY_PATH]` are recorded.",
   arg=ArgKind.KEY, with_arg=_env)
_f("proc", "proc.ld_preload", STR, x.proc_ld_preload, "`LD_PRELOAD` of the process.", falco=False)
_f("proc", "proc.ld_library_path", STR, x.proc_ld_library_path, "`LD_LIBRARY_PATH` of the process.", falco=False)
_f("proc", "proc.stdin_is_socket", BOOL, x.proc_stdio_socket(0), "Standard input is a socket.", falco=False)
_f("proc", "proc.stdout_is_socket", BOOL, x.proc_stdio_socket(1), "Standard output is a socket.", falco=False)
_f("proc", "proc.stderr_is_socket", BOOL, x.proc_stdio_socket(2), "Standard error is a socket.", falco=False)
for _fd, (_name, _what) in enumerate((("stdin", "input"), ("stdout", "output"), ("stderr", "error"))):
    _f("proc", f"proc.{_name}_type", STR, x.proc_stdio_type(_fd),
       f"What standard {_what} was at exec: `file`, `tty`, `char` (a device such as /dev/null), "
       "`pipe`, `inet` (TCP/UDP socket), `unix` (unix socket or socketpair), `socket` (another or unknown "
       "family), `other`; absent when the sensor could not tell.", falco=False)

_f("user", "user.uid", NUM, x.user_uid, "User id of the process.")
_f("user", "user.euid", NUM, x.user_euid, "Effective user id of the process.", falco=False)
_f("user", "user.name", STR, x.user_name, "User name of the process, when resolved.")
_f("user", "group.gid", NUM, x.group_gid, "Group id of the process.")
_f("user", "group.egid", NUM, x.group_egid, "Effective group id of the process.", falco=False)

_f("container", "container.id", STR, x.container_id, "Container id, or `host` for a process outside containers.")
_f("container", "container.name", STR, x.container_name, "Container name, or `host`.")
_f("container", "container.image", STR, x.container_image, "Image as the runtime names it (`repo:tag`).")
_f("container", "container.image.repository", STR, x.container_image_repository, "Image without tag and digest.")
_f("container", "container.image.tag", STR, x.container_image_tag, "Image tag.")
_f("container", "container.image.id", STR, x.container_image_id, "Image id (digest).")
_f("container", "container.type", STR, x.container_type, "Container runtime (`docker`, `containerd`, …).")
_f("container", "ecs.cluster", STR, x.ecs_cluster, "ECS cluster name.", falco=False)
_f("container", "ecs.cluster.arn", STR, x.ecs_cluster_arn, "ECS cluster ARN.", falco=False)
_f("container", "ecs.task.arn", STR, x.ecs_task_arn, "ECS task ARN.", falco=False)
_f("container", "ecs.task.family", STR, x.ecs_task_family, "ECS task-definition family.", falco=False)
_f("container", "ecs.task.launch_type", STR, x.ecs_task_launch_type, "`EC2` or `FARGATE`.", falco=False)
_f("container", "ecs.container.name", STR, x.ecs_container_name,
   "Container name in the ECS task definition.", falco=False)

_f("fd", "fd.name", STR, x.fd_name,
   "File path, unix socket path, or `cip:cport->sip:sport` for a connection.", kinds=_FD_KINDS)
_f("fd", "fd.directory", STR, x.fd_directory, "Directory of the file path.", kinds=_FILE_KINDS | {K.UNIX_CONNECT})
_f("fd", "fd.filename", STR, x.fd_filename, "Base name of the file path.", kinds=_FILE_KINDS | {K.UNIX_CONNECT})
_f("fd", "fd.typechar", STR, x.fd_typechar, "`f` file, `4` IPv4, `6` IPv6, `u` unix socket.", kinds=_FD_KINDS)
_f("fd", "fd.type", STR, x.fd_type, "`file`, `ipv4`, `ipv6` or `unix`.", kinds=_FD_KINDS)
_f("fd", "fd.l4proto", STR, x.fd_l4proto, "`tcp`, `udp`, `icmp` or `raw`.", kinds=_NET_KINDS)
_f("fd", "fd.sip", IP, x.fd_sip, "Server IP: the remote end of a connect, the local end otherwise.", kinds=_NET_KINDS)
_f("fd", "fd.sport", NUM, x.fd_sport, "Server port.", kinds=_NET_KINDS)
_f("fd", "fd.cip", IP, x.fd_cip, "Client IP (connect: local; accept: remote).", kinds=(K.NET_CONNECT, K.NET_ACCEPT))
_f("fd", "fd.cport", NUM, x.fd_cport, "Client port.", kinds=(K.NET_CONNECT, K.NET_ACCEPT))
_f("fd", "fd.lip", IP, x.fd_lip, "Local IP.", kinds=_NET_KINDS)
_f("fd", "fd.lport", NUM, x.fd_lport, "Local port.", kinds=_NET_KINDS)
_f("fd", "fd.rip", IP, x.fd_rip, "Remote IP.", kinds=_REMOTE_KINDS)
_f("fd", "fd.rport", NUM, x.fd_rport, "Remote port.", kinds=_REMOTE_KINDS)
_f("fd", "fd.num", NUM, x.fd_num, "The fd a socket was duplicated onto: 0 stdin, 1 stdout, 2 stderr.",
   kinds=(K.STDIO_REDIRECT,))
_f("fd", "fd.snet", IP, x.fd_sip, "Server IP, for comparisons with networks (`10.0.0.0/8`).", kinds=_NET_KINDS)
_f("fd", "fd.cnet", IP, x.fd_cip, "Client IP, for comparisons with networks.", kinds=(K.NET_CONNECT, K.NET_ACCEPT))
_f("fd", "fd.lnet", IP, x.fd_lip, "Local IP, for comparisons with networks.", kinds=_NET_KINDS)
_f("fd", "fd.rnet", IP, x.fd_rip, "Remote IP, for comparisons with networks.", kinds=_REMOTE_KINDS)

_DNS = (K.DNS_QUERY,)
_f("dns", "dns.name", STR, px.dns_name, "Queried domain name.", falco=False, kinds=_DNS)
_f("dns", "dns.qtype", STR, px.dns_qtype, "Query type (`A`, `AAAA`, `TXT`, …).", falco=False, kinds=_DNS)
_f("dns", "dns.answers", STR, px.dns_answers, "Answers (addresses or names); matches when any does.",
   falco=False, kinds=_DNS, multi=True)
_f("dns", "dns.rcode", STR, px.dns_rcode, "Response code (`NOERROR`, `NXDOMAIN`, …).", falco=False, kinds=_DNS)
_f("dns", "dns.server_ip", IP, px.dns_server_ip, "Resolver the query went to.", falco=False, kinds=_DNS)

_f("fs", "fs.path.name", STR, px.fs_path_name, "Path the file operation acts on.", kinds=_FILE_KINDS)
_f("fs", "fs.path.target", STR, px.fs_path_target, "Second path: new name of a rename, target of a link.",
   kinds=_FILE_KINDS)
_f("fs", "fs.operation", STR, bx.fs_operation,
   "GuardDuty's `fileOperation` word: `Write`, `Delete`, `Rename`, `Link`, `Symlink` or `Chmod`.",
   falco=False, kinds=_FILE_KINDS)
_f("other", "mount.source", STR, px.mount_source, "Mount source.", falco=False, kinds=(K.MOUNT,))
_f("other", "mount.target", STR, px.mount_target, "Mount target directory.", falco=False, kinds=(K.MOUNT,))
_f("other", "mount.fstype", STR, px.mount_fstype, "File-system type of a mount.", falco=False, kinds=(K.MOUNT,))
_f("other", "module.path", STR, px.module_path, "File of a loaded kernel module.", falco=False, kinds=(K.MODULE_LOAD,))
_f("other", "module.sha256", STR, px.module_sha256, "SHA-256 of a kernel module file.", falco=False,
   kinds=(K.MODULE_LOAD,))
_f("other", "cred.syscall", STR, px.cred_syscall, "Call that changed credentials (`setuid`, …).", falco=False,
   kinds=(K.CRED_CHANGE,))
_f("other", "cred.old_uid", NUM, px.cred_old_uid, "uid before a credential change.", falco=False,
   kinds=(K.CRED_CHANGE,))
_f("other", "cred.old_euid", NUM, px.cred_old_euid, "Effective uid before a credential change.", falco=False,
   kinds=(K.CRED_CHANGE,))
_f("other", "library.path", STR, _library_path, "Shared library mapped executable (`library_load`).", falco=False,
   kinds=(K.LIBRARY_LOAD,))
_f("other", "library.is_upper_layer", BOOL, _library_is_upper_layer,
   "The loaded library was written or modified after the container started.", falco=False,
   kinds=(K.LIBRARY_LOAD,))
_f("other", "target.name", STR, px.target_name, "Name of the process targeted by ptrace or process_vm_writev.",
   falco=False, kinds=_TARGET_KINDS)
_f("other", "target.exepath", STR, px.target_exepath, "Executable path of the targeted process.", falco=False,
   kinds=_TARGET_KINDS)
# fmt: on

FIELDS: Final[Mapping[str, FieldSpec]] = {spec.name: spec for spec in _CATALOGUE}


def resolve_field(ref: FieldRef) -> ResolvedField | FieldError:
    """Check ``ref`` against the catalogue and build its extractor (once per use)."""
    spec = FIELDS.get(ref.name)
    if spec is None:
        return FieldError(f"unknown field '{ref.name}'", unknown=True)
    if ref.arg is None:
        if spec.plain is None:
            return FieldError(f"field '{ref.name}' needs an argument: {ref.name}[...]", unknown=False)
        return ResolvedField(spec, None, spec.plain, spec.multi)
    if spec.with_arg is None:
        return FieldError(f"field '{ref.name}' takes no argument", unknown=False)
    built = spec.with_arg(ref.arg)
    if isinstance(built, str):
        return FieldError(f"bad argument for '{ref.name}': {built}", unknown=False)
    return ResolvedField(spec, ref.arg, built, False)


_GROUP_TITLES: Final = {
    "evt": "Event",
    "proc": "Process",
    "user": "User and group",
    "container": "Container and ECS task",
    "fd": "File descriptors: files and sockets",
    "dns": "DNS",
    "fs": "File-system paths",
    "other": "Other payloads",
}


def _kinds_text(kinds: frozenset[EventKind] | None) -> str:
    if kinds is None:
        return "all"
    return ", ".join(f"`{k.value}`" for k in EventKind if k in kinds)


def render_fields_markdown() -> str:
    """The text of ``docs/fields.md``, generated from the catalogue (a test keeps them equal)."""
    lines = [
        "# Rule fields",
        "",
        "Generated from the field catalogue (`rtguard.detect.fields.render_fields_markdown`); do not edit",
        "by hand. Regenerate with",
        "`python -c 'from rtguard.detect.fields import render_fields_markdown as r; print(r(), end=\"\")' > docs/fields.md`.",
        "",
        "Names follow Falco where the meaning is the same (column *Falco*: yes). A field with no value",
        "for an event (for example `fd.sip` on a `process_exec`) makes every comparison false,",
        "`exists` included. Fields marked *multi* hold several values: an operator matches when any",
        "value matches, `!=` when none is equal.",
        "",
    ]
    for group, title in _GROUP_TITLES.items():
        lines += [
            f"## {title}",
            "",
            "| Field | Type | Falco | Events | Description |",
            "|---|---|---|---|---|",
        ]
        for spec in _CATALOGUE:
            if spec.group != group:
                continue
            name = f"`{spec.name}[N]`" if spec.arg is ArgKind.INDEX else f"`{spec.name}`"
            if spec.arg is ArgKind.KEY:
                name = f"`{spec.name}[NAME]`"
            ftype = spec.type.value + (", multi" if spec.multi else "")
            falco = "yes" if spec.falco else "rtguard"
            lines.append(f"| {name} | {ftype} | {falco} | {_kinds_text(spec.kinds)} | {spec.doc} |")
        lines.append("")
    lines += ["## Falco syscall names accepted by `evt.type`", "", "| Name | Event kinds |", "|---|---|"]
    for alias, kinds in EVTTYPE_ALIASES.items():
        if alias not in EventKind.__members__.values():
            lines.append(f"| `{alias}` | {_kinds_text(kinds)} |")
    return "\n".join(lines) + "\n"
