"""Harmless test files whose SHA-256 is on rtguard's built-in file-hash list.

GuardDuty lets users check its detections with harmless test artefacts (test domains,
EICAR-like samples). EICAR is a text file: running it runs an interpreter, whose hash is
what the sensor records, so it cannot show ``Execution:Runtime/MaliciousFileExecuted`` for
real. ``TEST_EXECUTABLE`` is the executable counterpart: a fixed 218-byte static x86-64 Linux
ELF that prints ``rtguard harmless test executable``, sleeps one second and exits 0. Nothing
else: no library, no file, no network. The second keeps the process alive while the agent
reads its executable, as a real payload's would be (an executable that has already exited
can only be hashed through another process of its container, which is best effort). It is
built here byte for byte (no compiler involved) so that its hash never changes;
``TEST_EXECUTABLE_SHA256`` is that hash, pinned (a test checks they agree).

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
_SLEEP_SECONDS: Final = 1


def _build() -> bytes:
    # write(1, message, len); nanosleep({1 s, 0}, NULL); exit(0). Data follow the code: the
    # message, then the timespec.
    code_len = (5 + 5 + 7 + 5 + 2) + (5 + 7 + 2 + 2) + (5 + 2 + 2)
    after_message_lea = 5 + 5 + 7
    after_timespec_lea = 5 + 5 + 7 + 5 + 2 + 5 + 7
    code = (
        b"\xb8\x01\x00\x00\x00"  # mov eax, 1 (write)
        + b"\xbf\x01\x00\x00\x00"  # mov edi, 1 (stdout)
        + b"\x48\x8d\x35"  # lea rsi, [rip + message]
        + struct.pack("<i", code_len - after_message_lea)
        + b"\xba"  # mov edx, len(message)
        + struct.pack("<I", len(_MESSAGE))
        + b"\x0f\x05"  # syscall
        + b"\xb8\x23\x00\x00\x00"  # mov eax, 35 (nanosleep)
        + b"\x48\x8d\x3d"  # lea rdi, [rip + timespec]
        + struct.pack("<i", code_len + len(_MESSAGE) - after_timespec_lea)
        + b"\x31\xf6"  # xor esi, esi (no remainder)
        + b"\x0f\x05"  # syscall
        + b"\xb8\x3c\x00\x00\x00"  # mov eax, 60 (exit)
        + b"\x31\xff"  # xor edi, edi
        + b"\x0f\x05"  # syscall
    )
    data = _MESSAGE + struct.pack("<qq", _SLEEP_SECONDS, 0)
    size = _HEADERS + len(code) + len(data)
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
    return header + program + code + data


TEST_EXECUTABLE: Final[bytes] = _build()
TEST_EXECUTABLE_SHA256: Final = "a5820dc47bdabe2e29a593c531077420af3587d31964daabc25282766e408703"
