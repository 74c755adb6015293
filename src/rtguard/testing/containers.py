"""Real OCI containers for tests and the demo: runc with an overlay root, named like ECS tasks.

``RuncContainer`` builds a bundle whose root is an overlay of the host's ``/`` (read-only lower
layer) and a fresh upper layer on a private tmpfs, so every host tool exists inside and files
written in the container land in a real upper directory the test can inspect. The cgroup is
named like ECS on EC2 does (``/ecs/<task-id>/<64-hex container id>``) unless told otherwise;
network and pid namespaces can be joined (a test's ``ip netns``, or another container's pid
namespace for a sidecar). runc's stdio always goes to files, never pipes: ``runc run -d`` hands
its stdio to the container, and a pipe would never see EOF. Cleanup (``runc delete -f``,
unmounts, cgroup directories, temporary files) always runs, also after failures, and
``cleanup_stale`` removes what a killed test run left behind. This module needs root and runc;
it must not touch containers, mounts or cgroups it did not create, and production code must
never import it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Self

__all__ = [
    "DEFAULT_ENV",
    "NAME_PREFIX",
    "RuncContainer",
    "RuncError",
    "cleanup_stale",
    "new_container_id",
    "new_task_id",
    "run_container",
]

NAME_PREFIX: Final = "rtg-"
DEFAULT_ENV: Final = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "TERM=xterm",
)
_CGROUP_ROOT: Final = Path("/sys/fs/cgroup")
_CAP_LISTS: Final = ("bounding", "effective", "permitted", "ambient")
_NAME_OK: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}")
_counter = itertools.count(1)


class RuncError(RuntimeError):
    """runc or a mount failed; the message carries runc's own error output."""


def new_container_id() -> str:
    """A fresh 64-hex container id (as Docker and containerd make them)."""
    return os.urandom(32).hex()


def new_task_id() -> str:
    """A fresh 32-hex ECS task id (the new ARN format)."""
    return os.urandom(16).hex()


def _runc_binary() -> str:
    found = shutil.which("runc")
    if found is None:
        raise RuncError("runc is not installed: run `apt-get install runc` (or `make sysdeps`) as root")
    return found


def _run(args: Sequence[str], *, timeout: float, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a helper command with stdio to files (never pipes) and return its output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


def _is_mounted(path: Path) -> bool:
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split(" ")
                if len(fields) > 4 and fields[4].replace("\\040", " ") == target:
                    return True
    except OSError:
        return False
    return False


def _umount(path: Path) -> str:
    """Unmount ``path`` if mounted (lazily as a last resort); return an error text or ``""``."""
    if not _is_mounted(path):
        return ""
    result = _run(["umount", str(path)], timeout=30)
    if result.returncode == 0 or not _is_mounted(path):
        return ""
    lazy = _run(["umount", "-l", str(path)], timeout=30)
    if lazy.returncode == 0:
        return ""
    return f"umount {path}: {result.stderr.strip()} / {lazy.stderr.strip()}"


def _cgroup_mounts() -> list[Path]:
    """Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers and v2)."""
    mounts: list[Path] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split(" ")
                if " - cgroup" not in line or len(fields) < 5:
                    continue
                point = Path(fields[4])
                if point == _CGROUP_ROOT or _CGROUP_ROOT in point.parents:
                    mounts.append(point)
    except OSError:
        return []
    return sorted(set(mounts))


def _cgroup_dirs(cgroups_path: str) -> list[Path]:
    rel = cgroups_path.strip("/")
    if not rel:
        return []
    return [m / rel for m in _cgroup_mounts() if (m / rel).is_dir()]


def _remove_cgroup(cgroups_path: str) -> str:
    """rmdir the container's cgroup in every hierarchy, then its empty parents below the top.

    ``/ecs/<task>/<id>`` removes ``<id>`` and ``<task>`` (when empty) but never ``/ecs``, which
    other tests may be using at the same moment.
    """
    rel = Path(cgroups_path.strip("/"))
    if not rel.parts:
        return ""
    chain = [rel, *list(rel.parents)[:-2]]  # the leaf and every parent except the first level
    errors: list[str] = []
    for mount in _cgroup_mounts():
        for part in chain:
            path = mount / part
            for attempt in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if part != rel:
                        break  # a parent that is still in use by a sibling: leave it
                    if attempt == 49:
                        errors.append(f"rmdir {path}: {exc}")
                    time.sleep(0.02)  # the killed tasks are still leaving the cgroup
    return "; ".join(errors)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to exit; True when it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return True
            time.sleep(0.01)
        return not _pid_alive(pid)
    try:
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        return bool(ready)
    finally:
        os.close(fd)


def _path_in_root(root: Path, path: str) -> Path:
    """``path`` inside ``root`` with symlinks of parent directories resolved *within* ``root``.

    The lower layer is the host's ``/``: an absolute symlink such as ``/var/run -> /run`` must
    lead to ``<root>/run``, never to the host's ``/run``. Missing parents are created.
    """
    rel = PurePosixPath(path)
    if not rel.is_absolute() or ".." in rel.parts or len(rel.parts) < 2:
        raise ValueError(f"files: {path!r} must be an absolute file path without '..'")
    current = root
    pending = list(rel.parts[1:-1])
    hops = 0
    while pending:
        part = pending.pop(0)
        candidate = current / part
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise ValueError(f"files: too many symlinks under {path!r}")
            target = PurePosixPath(os.readlink(candidate))
            if ".." in target.parts:
                raise ValueError(f"files: {path!r} goes through a symlink with '..'")
            if target.is_absolute():
                current = root
                pending = list(target.parts[1:]) + pending
            else:
                pending = list(target.parts) + pending
            continue
        candidate.mkdir(exist_ok=True)
        current = candidate
    return current / rel.parts[-1]


@dataclass(frozen=True, slots=True)
class _Teardown:
    """What to undo for one container; shared by ``close`` and ``cleanup_stale``."""

    runc: str
    runc_root: str | None
    name: str
    workdir: Path
    rootfs: Path
    layer: Path
    cgroups_path: str
    init_pid: int

    def run(self) -> list[str]:
        errors: list[str] = []
        root = ["--root", self.runc_root] if self.runc_root else []
        try:
            result = _run([self.runc, *root, "delete", "-f", self.name], timeout=60)
            if result.returncode != 0 and "does not exist" not in result.stderr:
                errors.append(f"runc delete: {result.stderr.strip()}")
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"runc delete: {exc}")
        if self.init_pid > 0 and _pid_alive(self.init_pid):
            with contextlib.suppress(OSError):
                os.kill(self.init_pid, signal.SIGKILL)
            _wait_exit(self.init_pid, 5.0)
        for mount in (self.rootfs, self.layer):
            try:
                if err := _umount(mount):
                    errors.append(err)
            except (OSError, subprocess.SubprocessError) as exc:
                errors.append(f"umount {mount}: {exc}")
        if self.cgroups_path and (err := _remove_cgroup(self.cgroups_path)):
            errors.append(err)
        if not _is_mounted(self.rootfs) and not _is_mounted(self.layer):
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            errors.append(f"left {self.workdir} in place: still mounted")
        return errors


class RuncContainer:
    """One runc container with an overlay root; use it as a context manager.

    Args:
        args: the init process's argv (default: sleep forever).
        env: the init process's environment, ``KEY=value`` (default ``DEFAULT_ENV``); ``exec``
            inherits it.
        cwd: the init process's working directory.
        task_id: the ECS task id for the default cgroup path (default: a fresh one).
        container_id: the 64-hex container id (default: a fresh one).
        cgroups_path: the cgroup path (default ``/ecs/<task_id>/<container_id>``).
        hostname: the UTS hostname (default: the first 12 hex of the container id).
        netns_path: join this network namespace (e.g. ``NetNamespace.path``); default: a new
            one holding only ``lo``, so nothing leaves the container.
        pidns_path: join this pid namespace (e.g. ``other.pidns_path``) instead of a new one.
        capabilities: capability names (``CAP_SYS_PTRACE``, ...) for every capability set;
            default: runc's (AUDIT_WRITE, KILL, NET_BIND_SERVICE).
        user: ``(uid, gid)`` of the init process.
        no_new_privileges: runc's default is True; False lets setuid binaries elevate.
        files: files to create in the container before it starts (path → content); they land
            in the upper layer, e.g. ``{"/etc/resolv.conf": "nameserver 10.213.7.1\\n"}``.
        name: the runc container name (default: unique, ``rtg-<pid>-<n>-<hex>``).
        workdir: where to put the bundle and layers (default: a new temp directory).
        runc_root: runc's ``--root`` state directory (default: runc's own).
        upper_size: size of the tmpfs that holds the upper layer.
        start_timeout: seconds to wait for ``runc run -d``.

    ``start`` (or ``with``) runs it. Cleanup always runs on ``close``/exit and raises
    ``RuncError`` only after everything was attempted. Not thread-safe.
    """

    def __init__(
        self,
        *,
        args: Sequence[str] = ("sleep", "infinity"),
        env: Sequence[str] = DEFAULT_ENV,
        cwd: str = "/",
        task_id: str | None = None,
        container_id: str | None = None,
        cgroups_path: str | None = None,
        hostname: str | None = None,
        netns_path: str | None = None,
        pidns_path: str | None = None,
        capabilities: Sequence[str] | None = None,
        user: tuple[int, int] = (0, 0),
        no_new_privileges: bool = True,
        files: Mapping[str, str | bytes] | None = None,
        name: str | None = None,
        workdir: str | None = None,
        runc_root: str | None = None,
        upper_size: str = "1g",
        start_timeout: float = 60.0,
    ) -> None:
        self.container_id = container_id or new_container_id()
        self.task_id = task_id or new_task_id()
        self.cgroups_path = cgroups_path or f"/ecs/{self.task_id}/{self.container_id}"
        self.name = name or f"{NAME_PREFIX}{os.getpid()}-{next(_counter)}-{os.urandom(3).hex()}"
        if not _NAME_OK.fullmatch(self.name):
            raise ValueError(f"invalid container name {self.name!r}")
        self.hostname = hostname or self.container_id[:12]
        self._args = list(args)
        self._env = list(env)
        self._cwd = cwd
        self._netns_path = netns_path
        self._pidns_path = pidns_path
        self._capabilities = list(capabilities) if capabilities is not None else None
        self._user = user
        self._no_new_privileges = no_new_privileges
        self._files = dict(files or {})
        self._workdir_arg = workdir
        self._runc_root = runc_root
        self._upper_size = upper_size
        self._start_timeout = start_timeout
        self._runc = ""
        self._workdir: Path | None = None
        self._pid = 0
        self._exec_seq = itertools.count(1)
        self._closed = False

    # -- paths -----------------------------------------------------------------------------

    def _require_workdir(self) -> Path:
        if self._workdir is None:
            raise RuncError(f"container {self.name} was not started")
        return self._workdir

    @property
    def workdir(self) -> Path:
        """The temporary directory holding bundle, layers and logs."""
        return self._require_workdir()

    @property
    def bundle(self) -> Path:
        """The OCI bundle directory (``config.json``)."""
        return self._require_workdir() / "bundle"

    @property
    def rootfs(self) -> Path:
        """The merged overlay: the container's ``/`` as seen from the host."""
        return self._require_workdir() / "bundle" / "rootfs"

    @property
    def upper_dir(self) -> Path:
        """The overlay's upper layer: everything the container wrote (host path)."""
        return self._require_workdir() / "layer" / "upper"

    @property
    def pid(self) -> int:
        """The host pid of the container's init process."""
        if not self._pid:
            raise RuncError(f"container {self.name} has no init process (not started)")
        return self._pid

    @property
    def pidns_path(self) -> str:
        """``/proc/<init pid>/ns/pid``, for a container that should share this pid namespace."""
        return f"/proc/{self.pid}/ns/pid"

    @property
    def netns(self) -> str:
        """``/proc/<init pid>/ns/net``, this container's network namespace."""
        return f"/proc/{self.pid}/ns/net"

    def cgroup_dirs(self) -> list[Path]:
        """The container's cgroup directories that exist now, one per hierarchy."""
        return _cgroup_dirs(self.cgroups_path)

    def init_output(self) -> tuple[str, str]:
        """What the init process wrote so far to stdout and stderr."""
        logs = self._require_workdir() / "logs"
        return (
            (logs / "init.out").read_text(errors="replace"),
            (logs / "init.err").read_text(errors="replace"),
        )

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> Self:
        """Build the bundle, mount the overlay and ``runc run -d``; clean up on any failure."""
        if self._workdir is not None:
            raise RuncError(f"container {self.name} was already started")
        self._runc = _runc_binary()
        self._workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}.", dir=self._workdir_arg)).resolve()
        try:
            self._mount_layers()
            self._write_files()
            self._write_config()
            self._run_detached()
        except BaseException:
            with contextlib.suppress(RuncError):
                self.close()
            raise
        return self

    def _mount_layers(self) -> None:
        layer = self.workdir / "layer"
        for d in (layer, self.rootfs, self.workdir / "logs"):
            d.mkdir(parents=True, exist_ok=True)
        # A private tmpfs for upper and work dirs: the lower layer (/) never changes under the
        # overlay, and nothing the container writes reaches the host's disk.
        tmpfs = _run(
            ["mount", "-t", "tmpfs", "-o", f"size={self._upper_size},mode=0755", "rtg-layer", str(layer)],
            timeout=30,
        )
        if tmpfs.returncode != 0:
            raise RuncError(f"mount tmpfs on {layer} failed: {tmpfs.stderr.strip()}")
        (layer / "upper").mkdir()
        (layer / "work").mkdir()
        options = f"lowerdir=/,upperdir={layer / 'upper'},workdir={layer / 'work'}"
        overlay = _run(["mount", "-t", "overlay", "rtg-overlay", "-o", options, str(self.rootfs)], timeout=30)
        if overlay.returncode != 0:
            raise RuncError(f"mount overlay on {self.rootfs} failed: {overlay.stderr.strip()}")

    def _write_files(self) -> None:
        for path, content in self._files.items():
            target = _path_in_root(self.rootfs, path)
            if target.is_symlink():
                target.unlink()  # replace it in the upper layer; never write through it
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def _write_config(self) -> None:
        spec = _run([self._runc, "spec"], timeout=30, cwd=str(self.bundle))
        if spec.returncode != 0:
            raise RuncError(f"runc spec failed: {spec.stderr.strip()}")
        config_path = self.bundle / "config.json"
        config = json.loads(config_path.read_text())
        process = config["process"]
        process["terminal"] = False
        process["args"] = self._args
        process["env"] = self._env
        process["cwd"] = self._cwd
        process["user"] = {"uid": self._user[0], "gid": self._user[1]}
        process["noNewPrivileges"] = self._no_new_privileges
        if self._capabilities is not None:
            process["capabilities"] = {key: list(self._capabilities) for key in _CAP_LISTS}
        config["root"] = {"path": str(self.rootfs), "readonly": False}
        config["hostname"] = self.hostname
        linux = config["linux"]
        linux["cgroupsPath"] = self.cgroups_path
        joins = {"network": self._netns_path, "pid": self._pidns_path}
        namespaces = []
        for ns in linux["namespaces"]:
            path = joins.get(ns["type"])
            namespaces.append({"type": ns["type"], "path": path} if path else ns)
        linux["namespaces"] = namespaces
        config_path.write_text(json.dumps(config, indent=2))

    def _runc_cmd(self, *args: str) -> list[str]:
        root = ["--root", self._runc_root] if self._runc_root else []
        return [self._runc, *root, *args]

    def _run_detached(self) -> None:
        logs = self.workdir / "logs"
        pid_file = logs / "init.pid"
        with open(logs / "init.out", "wb") as out, open(logs / "init.err", "wb") as err:
            proc = subprocess.run(
                self._runc_cmd("run", "-d", "--pid-file", str(pid_file), "-b", str(self.bundle), self.name),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=self._start_timeout,
                check=False,
            )
        if proc.returncode != 0:
            _, stderr = self.init_output()
            raise RuncError(f"runc run {self.name} failed ({proc.returncode}): {stderr.strip()}")
        self._pid = int(pid_file.read_text().strip())

    def close(self) -> None:
        """Delete the container, unmount, remove cgroups and temp files. Idempotent.

        Every step is attempted even when an earlier one failed.

        Raises:
            RuncError: listing every step that failed, after all were attempted.
        """
        if self._closed or self._workdir is None:
            self._closed = True
            return
        self._closed = True
        teardown = _Teardown(
            runc=self._runc or _runc_binary(),
            runc_root=self._runc_root,
            name=self.name,
            workdir=self._workdir,
            rootfs=self.rootfs,
            layer=self._workdir / "layer",
            cgroups_path=self.cgroups_path,
            init_pid=self._pid,
        )
        errors = teardown.run()
        if errors:
            raise RuncError(f"cleanup of container {self.name} incomplete: " + "; ".join(errors))

    # -- running things ---------------------------------------------------------------------

    def _exec_args(
        self,
        args: Sequence[str],
        env: Mapping[str, str] | None,
        cwd: str | None,
        user: tuple[int, int] | None,
    ) -> list[str]:
        opts: list[str] = []
        for key, value in (env or {}).items():
            opts += ["--env", f"{key}={value}"]
        if cwd is not None:
            opts += ["--cwd", cwd]
        if user is not None:
            opts += ["--user", f"{user[0]}:{user[1]}"]
        return [*opts, self.name, *args]

    def exec(
        self,
        args: Sequence[str],
        timeout: float = 60.0,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        user: tuple[int, int] | None = None,
        input: bytes | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``runc exec`` a command and wait for it; output is captured through files.

        Args:
            args: the argv to run inside the container.
            timeout: seconds; on expiry runc is killed and ``subprocess.TimeoutExpired`` raised
                (the command itself may live on until the container is closed).
            env: extra environment variables on top of the container's.
            cwd: working directory inside the container.
            user: ``(uid, gid)`` to run as.
            input: bytes fed to the command's stdin (default: ``/dev/null``).
            check: raise ``subprocess.CalledProcessError`` on a non-zero exit.
        """
        logs = self._require_workdir() / "logs"
        seq = next(self._exec_seq)
        out_path, err_path, in_path = (logs / f"exec{seq}.{s}" for s in ("out", "err", "in"))
        in_path.write_bytes(input or b"")
        cmd = self._runc_cmd("exec", *self._exec_args(args, env, cwd, user))
        try:
            with open(in_path, "rb") as stdin, open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = subprocess.run(cmd, stdin=stdin, stdout=out, stderr=err, timeout=timeout, check=False)
            result = subprocess.CompletedProcess(
                list(args),
                proc.returncode,
                out_path.read_text(errors="replace"),
                err_path.read_text(errors="replace"),
            )
        finally:
            for p in (out_path, err_path, in_path):
                p.unlink(missing_ok=True)
        if check:
            result.check_returncode()
        return result

    def spawn(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        user: tuple[int, int] | None = None,
        timeout: float = 60.0,
    ) -> int:
        """Start a command in the container without waiting (``runc exec -d``).

        Its stdout and stderr go to ``logs/spawn<n>.out|err`` in the work directory.

        Returns:
            The host pid of the new process.
        """
        logs = self._require_workdir() / "logs"
        seq = next(self._exec_seq)
        pid_file = logs / f"spawn{seq}.pid"
        cmd = self._runc_cmd(
            "exec", "-d", "--pid-file", str(pid_file), *self._exec_args(args, env, cwd, user)
        )
        with open(logs / f"spawn{seq}.out", "wb") as out, open(logs / f"spawn{seq}.err", "wb") as err:
            proc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout, check=False
            )
        if proc.returncode != 0:
            raise RuncError(
                f"runc exec -d in {self.name} failed: {(logs / f'spawn{seq}.err').read_text().strip()}"
            )
        return int(pid_file.read_text().strip())

    def kill(self, sig: str = "KILL", *, all_processes: bool = False) -> None:
        """Send ``sig`` to the init process (or to every process with ``all_processes``)."""
        extra = ["--all"] if all_processes else []
        result = _run(self._runc_cmd("kill", *extra, self.name, sig), timeout=30)
        if result.returncode != 0:
            raise RuncError(f"runc kill {self.name} {sig} failed: {result.stderr.strip()}")

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until the init process exits; True when it did within ``timeout`` seconds."""
        return _wait_exit(self.pid, timeout)

    def state(self) -> dict[str, object]:
        """``runc state``: status (``running``, ``stopped``, ...), pid, bundle, ..."""
        result = _run(self._runc_cmd("state", self.name), timeout=30)
        if result.returncode != 0:
            raise RuncError(f"runc state {self.name} failed: {result.stderr.strip()}")
        state: dict[str, object] = json.loads(result.stdout)
        return state


@contextlib.contextmanager
def run_container(**kwargs: Any) -> Iterator[RuncContainer]:
    """Start a ``RuncContainer(**kwargs)`` and always clean it up.

    Example:
        with run_container(task_id=new_task_id()) as c:
            c.exec(["sh", "-c", "echo hi > /tmp/x"], check=True)
    """
    container = RuncContainer(**kwargs)
    container.start()
    try:
        yield container
    finally:
        container.close()


def cleanup_stale(*, runc_root: str | None = None, prefix: str = NAME_PREFIX) -> list[str]:
    """Remove containers named ``<prefix><pid>-...`` whose creating process is gone.

    A test run that was killed (SIGKILL, timeout) cannot clean up after itself; call this from
    a session fixture or by hand. Containers of live test processes are left alone.

    Returns:
        The names of the containers removed.
    """
    runc = _runc_binary()
    root = ["--root", runc_root] if runc_root else []
    listing = _run([runc, *root, "list", "--format", "json"], timeout=30)
    if listing.returncode != 0:
        return []
    entries = json.loads(listing.stdout or "null") or []
    removed: list[str] = []
    for entry in entries:
        name = str(entry.get("id", ""))
        match = re.fullmatch(re.escape(prefix) + r"(\d+)-.*", name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        bundle = Path(str(entry.get("bundle", "")))
        cgroups_path = ""
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            cgroups_path = json.loads((bundle / "config.json").read_text())["linux"]["cgroupsPath"]
        workdir = bundle.parent
        _Teardown(
            runc=runc,
            runc_root=runc_root,
            name=name,
            workdir=workdir,
            rootfs=bundle / "rootfs",
            layer=workdir / "layer",
            cgroups_path=str(cgroups_path),
            init_pid=int(entry.get("pid", 0) or 0),
        ).run()
        removed.append(name)
    return removed
