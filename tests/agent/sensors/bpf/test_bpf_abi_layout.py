"""The ctypes mirror in ``abi.py`` matches ``bpf/rtguard.h`` byte for byte (no root, no BTF).

A tiny host C program that includes the header prints sizeof/offsetof of every struct and
field and the value of every enum and size constant; the test compares them with the mirror.
"""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rtguard.agent.sensors.bpf import abi

REPO = Path(__file__).resolve().parents[4]
HEADER_DIR = REPO / "bpf"

CONSTANTS: dict[str, int] = {
    "RTG_ABI_MAJOR": abi.ABI_MAJOR,
    "RTG_ABI_MINOR": abi.ABI_MINOR,
    "RTG_ABI_PATCH": abi.ABI_PATCH,
    "RTG_ABI_VERSION_CODE": abi.abi_version_code(abi.ABI_MAJOR, abi.ABI_MINOR, abi.ABI_PATCH),
    "RTG_COMM_LEN": abi.COMM_LEN,
    "RTG_FILENAME_MAX": abi.FILENAME_MAX,
    "RTG_CGROUP_MAX_DEPTH": abi.CGROUP_MAX_DEPTH,
    "RTG_CGROUP_NAME_MAX": abi.CGROUP_NAME_MAX,
    "RTG_ARGS_MAX": abi.ARGS_MAX,
    "RTG_CNT_MAX": abi.COUNTER_SLOTS,
    "RTG_PATH_MAX": abi.PATH_MAX,
    "RTG_PATH_DEPTH": abi.PATH_DEPTH,
    "RTG_ENV_MAX": abi.ENV_MAX,
    "RTG_UNIX_PATH_MAX": abi.UNIX_PATH_MAX,
    "RTG_DNS_MAX": abi.DNS_MAX,
    "RTG_STR_MAX": abi.STR_MAX,
    "RTG_PREFIX_SLOTS": abi.PREFIX_SLOTS,
    "RTG_PREFIX_LEN": abi.PREFIX_LEN,
    **{f"RTG_NET_{m.name}": m.value for m in abi.NetKind},
    **{f"RTG_FILE_{m.name}": m.value for m in abi.FileKind},
    **{f"RTG_PROC_{m.name}": m.value for m in abi.ProcKind},
    **{f"RTG_MOUNT_{m.name}": m.value for m in abi.MountKind},
    **{f"RTG_{m.name}": int(m) for m in abi.Stdio if m.name},
    **{f"RTG_{m.name}": m.value for m in abi.StdioKind},
    **{f"RTG_OP_{m.name}": m.value for m in abi.Op},
    **{f"RTG_F_{m.name}": int(m) for m in abi.Flag if m.name},
    **{f"RTG_CNT_{m.name}": m.value for m in abi.Counter},
}


def _c_program() -> str:
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "rtguard.h"', "int main(void) {"]
    for cname, mirror in abi.STRUCTS.items():
        lines.append(f'printf("sizeof {cname} %zu\\n", sizeof(struct {cname}));')
        for field, _off, _ctype in abi.flat_fields(mirror):
            lines.append(
                f'printf("offsetof {cname}.{field} %zu\\n", offsetof(struct {cname}, {field}));'
                f'printf("sizeof {cname}.{field} %zu\\n", sizeof(((struct {cname} *)0)->{field}));'
            )
    for name in CONSTANTS:
        lines.append(f'printf("const {name} %lld\\n", (long long)({name}));')
    lines += ["return 0;", "}"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "a host C compiler (gcc) is needed for the ABI layout test"
    work = tmp_path_factory.mktemp("abi")
    src, exe = work / "layout.c", work / "layout"
    src.write_text(_c_program())
    subprocess.run([cc, "-Wall", "-Werror", f"-I{HEADER_DIR}", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    layout: dict[str, int] = {}
    for line in out.splitlines():
        kind, name, value = line.split()
        layout[f"{kind} {name}"] = int(value)
    return layout


@pytest.mark.parametrize("cname", sorted(abi.STRUCTS))
def test_struct_sizes_and_offsets_match_header(cname: str, c_layout: dict[str, int]) -> None:
    mirror = abi.STRUCTS[cname]
    assert ctypes.sizeof(mirror) == c_layout[f"sizeof {cname}"]
    for field, off, ctype in abi.flat_fields(mirror):
        assert off == c_layout[f"offsetof {cname}.{field}"], field
        assert ctypes.sizeof(ctype) == c_layout[f"sizeof {cname}.{field}"], field


@pytest.mark.parametrize("cname", sorted(abi.STRUCTS))
def test_structs_have_no_hidden_padding(cname: str) -> None:
    # Fields laid end to end cover the struct: a C field added in padding cannot go unseen.
    mirror = abi.STRUCTS[cname]
    pos = 0
    for field, off, ctype in abi.flat_fields(mirror):
        assert off == pos, f"gap before {cname}.{field}"
        pos = off + ctypes.sizeof(ctype)
    assert pos == ctypes.sizeof(mirror)
    assert ctypes.sizeof(mirror) % 8 == 0, "records are 8-byte aligned so the exec tail starts aligned"


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_constants_match_header(name: str, c_layout: dict[str, int]) -> None:
    assert c_layout[f"const {name}"] == CONSTANTS[name]


@pytest.mark.parametrize("cname", sorted(abi.STRUCTS))
def test_struct_format_unpacks_the_same_layout(cname: str) -> None:
    mirror = abi.STRUCTS[cname]
    fmt = struct.Struct(abi.struct_format(mirror))
    assert fmt.size == ctypes.sizeof(mirror)
    # Distinct values in every field come back in flat field order.
    inst = mirror()
    fields = abi.flat_fields(mirror)
    expected: list[object] = []
    for i, (field, _off, ctype) in enumerate(fields, start=1):
        *path, leaf = field.split(".")
        target: ctypes.Structure = inst
        for part in path:
            target = getattr(target, part)
        value: object = b"x%d" % i if issubclass(ctype, ctypes.Array) else i
        setattr(target, leaf, value)
        expected.append(value.ljust(ctypes.sizeof(ctype), b"\0") if isinstance(value, bytes) else value)
    assert list(fmt.unpack(bytes(inst))) == expected


def test_abi_version_file_matches_mirror() -> None:
    assert (HEADER_DIR / "ABI_VERSION").read_text().strip() == abi.ABI_VERSION


def test_every_header_enum_constant_is_mirrored() -> None:
    text = (HEADER_DIR / "rtguard.h").read_text()
    names = {
        tok.split("=")[0].strip()
        for line in text.splitlines()
        if (tok := line.strip()).startswith(
            ("RTG_OP_", "RTG_F_", "RTG_CNT_", "RTG_NET_", "RTG_FILE_", "RTG_PROC_", "RTG_STD", "RTG_MOUNT_")
        )
        and "=" in tok
    }
    assert names, "no enum constants found in rtguard.h"
    assert names <= set(CONSTANTS), names - set(CONSTANTS)
