"""Harmless test files whose SHA-256 is on rtguard's built-in file-hash list.

GuardDuty lets users check its detections with harmless test artefacts (test domains,
EICAR-like samples). EICAR is a text file: running it runs an interpreter, whose hash is
what the sensor records, so it cannot show ``Execution:Runtime/MaliciousFileExecuted`` for
real. ``TEST_EXECUTABLE`` is the executable counterpart: a fixed 186-byte static x86-64 Linux
ELF that prints ``rtguard harmless test executable`` and exits 0. Nothing else: no library,
no file, no network. It is built here byte for byte (no compiler involved) so that its hash
never changes; ``TEST_EXECUTABLE_SHA256`` is that hash, pinned (a test checks they agree).

Write it to a file, make it executable and run it inside a monitored container: rtguard
reports ``Execution:Runtime/MaliciousFileExecuted`` with threat name
``TEST_EXECUTABLE_THREAT`` (and, as the file was written after the container started,
``Execution:Runtime/NewBinaryExecuted``). Pure data; must not do I/O.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["TEST_EXECUTABLE", "TEST_EXECUTABLE_SHA256", "TEST_EXECUTABLE_THREAT"]

TEST_EXECUTABLE_THREAT: Final = "rtguard-Test-Executable"
_MESSAGE: Final = b"rtguard harmless test executable\n"
_BASE: Final = 0x400000
_HEADERS: Final = 64 + 56  # ELF header + one program header


def _build() -> bytes:
    # write(1, message, len); exit(0)
    code_len = 5 + 5 + 7 + 5 + 2 + 5 + 2 + 2
    code = (
        b"\xb8\x01\x00\x00\x00"  # mov eax, 1 (write)
        + b"\xbf\x01\x00\x00\x00"  # mov edi, 1 (stdout)
        + b"\x48\x8d\x35"  # lea rsi, [rip + message]
        + struct.pack("<i", code_len - (5 + 5 + 7))
        + b"\xba"  # mov edx, len(message)
        + struct.pack("<I", len(_MESSAGE))
        + b"\x0f\x05"  # syscall
        + b"\xb8\x3c\x00\x00\x00"  # mov eax, 60 (exit)
        + b"\x31\xff"  # xor edi, edi
        + b"\x0f\x05"  # syscall
    )
    size = _HEADERS + len(code) + len(_MESSAGE)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little endian, SysV
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2,  # ET_EXEC
        0x3E,  # x86-64
        1,  # version
        _BASE + _HEADERS,  # entry
        64,  # program headers offset
        0,  # section headers offset: none
        0,  # flags
        64,  # ELF header size
        56,  # program header size
        1,  # one program header
        0,
        0,
        0,
    )
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)  # PT_LOAD, R+X
    return header + program + code + _MESSAGE


TEST_EXECUTABLE: Final[bytes] = _build()
TEST_EXECUTABLE_SHA256: Final = "812ca6b0d51d481a0bba2dbefb059e9004fc287834601679c100b279da317178"
