"""Operator semantics as compiled conditions, table-driven: each row is (condition, expected)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rtguard.detect.compiler import Compiled
from rtguard.detect.condition.ast import ALL_OPERATORS
from rtguard.detect.operators import OPERATORS, TRANSFORMERS
from rtguard.detect.result import LoadCode, LoadResult
from rtguard.model.events import Event, EventKind
from rtguard.testing.events import ancestor, connect_event, dns_event, exec_event

Matcher = Callable[[str, Event], bool]
CompileCondition = Callable[[str], tuple[Compiled | None, LoadResult[object]]]

CURL = exec_event(
    "curl",
    argv=["curl", "-s", "http://169.254.169.254/latest/"],
    lineage=[ancestor("bash", pid=20), ancestor("nginx", pid=10)],
    pid=42,
    uid=1000,
    cwd="/srv/app",
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("proc.name = curl", True),
        ("proc.name == curl", True),
        ("proc.name = wget", False),
        ("proc.name != wget", True),
        ("proc.name != curl", False),
        ("proc.name in (wget, curl)", True),
        ("proc.name in ()", False),
        ("proc.name intersects (curl)", True),
        ("proc.cmdline contains 169.254", True),
        ("proc.cmdline contains CURL", False),
        ("proc.cmdline icontains CURL", True),
        ("proc.exepath startswith /usr/", True),
        ("proc.exepath endswith /curl", True),
        ("proc.exepath glob '/usr/*/cu?l'", True),
        ("proc.exepath glob '/usr/*/[a-c]url'", True),
        ("proc.exepath glob '/bin/*'", False),
        ("proc.exepath iglob '/USR/BIN/*'", True),
        ("proc.exepath regex '/usr/bin/c.*'", True),
        ("proc.exepath regex 'bin/c'", False),
        ("proc.cwd pmatch (/srv, /opt)", True),
        ("proc.cwd pmatch (/srv/app/)", True),
        ("proc.cwd pmatch (/sr)", False),
        ("proc.cwd pmatch (/)", True),
        ("proc.pid = 42", True),
        ("proc.pid = 0x2a", True),
        ("proc.pid > 41 and proc.pid >= 42 and proc.pid < 43 and proc.pid <= 42", True),
        ("proc.pid in (1, 2, 42)", True),
        ("user.uid != 0", True),
        ("proc.is_exe_upper_layer = false", True),
        ("proc.is_exe_upper_layer = TRUE", False),
        ("proc.sha256 exists", False),
        ("proc.exepath exists", True),
        ("proc.pname exists", True),
    ],
)
def test_operators_on_single_values(matches: Matcher, condition: str, expected: bool) -> None:
    assert matches(condition, CURL) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("proc.aname = nginx", True),
        ("proc.aname = apache", False),
        ("proc.aname != apache", True),
        ("proc.aname != nginx", False),
        ("proc.aname in (apache, nginx)", True),
        ("proc.aname intersects (nginx)", True),
        ("proc.aname startswith ngi", True),
        ("proc.aname[2] = nginx", True),
        ("proc.aname[1] = nginx", False),
        ("proc.aname exists", True),
        ("proc.argv = -s", True),
        ("proc.argv contains 169.254", True),
        ("proc.argv[0] = curl", True),
        ("tolower(proc.argv) = -S", False),
        ("toupper(proc.argv) = -S", True),
        ("len(proc.aname) = 2", True),
        ("proc.apid in (10)", True),
    ],
)
def test_multi_valued_fields_match_when_any_value_matches(
    matches: Matcher, condition: str, expected: bool
) -> None:
    assert matches(condition, CURL) is expected


def test_multi_valued_field_with_no_values(compile_condition: CompileCondition) -> None:
    orphan = exec_event("init", parent=None)
    compiled, _ = compile_condition("proc.aname exists")
    assert compiled is not None and not compiled.fn(orphan)
    compiled, _ = compile_condition("proc.aname != bash")
    assert compiled is not None and compiled.fn(orphan)


def test_missing_field_makes_every_comparison_false(matches: Matcher) -> None:
    for cond in (
        "fd.sip = 1.2.3.4",
        "fd.sip != 1.2.3.4",
        "fd.name contains x",
        "fd.sport > 0",
        "fd.name exists",
    ):
        assert matches(cond, CURL) is False, cond
    assert matches("not fd.sip = 1.2.3.4", CURL) is True


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("fd.sip = 198.51.100.7", True),
        ("fd.sip in (10.0.0.0/8, 198.51.100.0/24)", True),
        ("fd.snet in (10.0.0.0/8)", False),
        ("fd.sip != 198.51.100.0/24", False),
        ("fd.cip = 10.0.0.5", True),
        ("fd.sport = 443 and fd.l4proto = tcp", True),
        ("evt.type = connect", True),
        ("evt.type in (execve, execveat)", False),
        ("evt.type != net_connect", False),
        ("evt.type exists", True),
    ],
)
def test_network_fields_and_event_types(matches: Matcher, condition: str, expected: bool) -> None:
    assert matches(condition, connect_event("198.51.100.7", 443)) is expected


def test_ipv6_constants_are_normalised(matches: Matcher) -> None:
    ev = connect_event("2001:db8::1", 443, local_ip="2001:db8::2")
    assert matches("fd.sip = 2001:0db8:0000::0001", ev)
    assert matches("fd.sip in (2001:db8::/32)", ev)


def test_dns_answers_are_multi_valued(matches: Matcher) -> None:
    ev = dns_event("rebind.example", answers=["192.0.2.1", "169.254.169.254"])
    assert matches("dns.answers = 169.254.169.254", ev)
    assert matches("dns.name endswith .example and evt.type = dns_query", ev)


def test_transformers(matches: Matcher) -> None:
    ev = exec_event("XMRig", argv=["XMRig", "aGVsbG8="], exe_path="/tmp/x/XMRig")
    assert matches("tolower(proc.name) = xmrig", ev)
    assert matches("toupper(proc.name) = XMRIG", ev)
    assert matches("basename(proc.exepath) = XMRig", ev)
    assert matches("len(proc.name) = 5", ev)
    assert matches("b64(proc.argv[1]) = hello", ev)
    assert not matches("b64(proc.name) = hello", ev)


def test_comparison_with_another_field(matches: Matcher) -> None:
    ev = exec_event("bash", lineage=[ancestor("bash")], uid=0, euid=0)
    assert matches("proc.name = val(proc.pname)", ev)
    assert matches("proc.pname startswith val(proc.name)", ev)
    assert matches("user.uid = val(user.euid)", ev)
    assert not matches("proc.name != val(proc.pname)", ev)
    assert not matches("proc.name = val(proc.sha256)", ev)


def test_evt_type_aliases_never_matching_warn(compile_condition: CompileCondition) -> None:
    compiled, result = compile_condition("evt.type = sendfile")
    assert compiled is not None and compiled.kinds == frozenset()
    assert [w.code for w in result.warnings] == [LoadCode.UNKNOWN_EVTTYPE]
    assert not compiled.fn(CURL)


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        ("proc.name < 3", LoadCode.OPERATOR),
        ("proc.pid contains 3", LoadCode.OPERATOR),
        ("proc.pid = abc", LoadCode.VALUE),
        ("proc.is_exe_upper_layer = yes", LoadCode.VALUE),
        ("fd.sip = not-an-ip", LoadCode.VALUE),
        ("proc.name regex '('", LoadCode.VALUE),
        ("proc.name bcontains 41", LoadCode.VALUE),
        ("tolower(proc.pid) = 1", LoadCode.OPERATOR),
        ("proc.name = val(proc.pid)", LoadCode.OPERATOR),
        ("proc.name in val(proc.pname)", LoadCode.OPERATOR),
        ("proc.name in nolist", LoadCode.UNDEFINED_LIST),
        ("nomacro", LoadCode.UNDEFINED_MACRO),
        ("proc.nosuch = 1", LoadCode.UNKNOWN_FIELD),
        ("proc.aname[x] = 1", LoadCode.FIELD_ARG),
    ],
)
def test_compile_errors(compile_condition: CompileCondition, condition: str, code: LoadCode) -> None:
    compiled, result = compile_condition(condition)
    assert compiled is None
    assert [e.code for e in result.errors] == [code]


def test_every_grammar_operator_has_semantics() -> None:
    assert set(OPERATORS) == set(ALL_OPERATORS)
    assert set(TRANSFORMERS) >= {"tolower", "toupper", "b64", "basename", "len"}


def test_or_of_string_tests_on_one_field_is_fused_with_the_same_meaning(matches: Matcher) -> None:
    cond = (
        "proc.cmdline contains stratum+ or proc.cmdline startswith xmr or proc.cmdline endswith --bg "
        "or proc.cmdline = miner or proc.name = nomatch"
    )
    cases = {
        ("curl", ("curl", "stratum+tcp://x")): True,
        ("xmrig", ("xmrig",)): True,
        ("a", ("a", "--bg")): True,
        ("miner", ("miner",)): True,
        ("nomatch", ("nomatch", "z")): True,
        ("ls", ("ls", "-la")): False,
    }
    for (name, argv), expected in cases.items():
        assert matches(cond, exec_event(name, argv=list(argv))) is expected, (name, argv)


def test_kind_and_name_analysis(compile_condition: CompileCondition) -> None:
    compiled, _ = compile_condition(
        "evt.type in (execve, connect) and proc.name in (a, b) and not proc.pid = 1"
    )
    assert compiled is not None
    assert compiled.kinds == {EventKind.PROCESS_EXEC, EventKind.NET_CONNECT, EventKind.UNIX_CONNECT}
    assert compiled.names == frozenset({"a", "b"})
    compiled, _ = compile_condition("proc.name in (a, b) and proc.name in (b, c) and proc.pid > 0")
    assert compiled is not None and compiled.names == frozenset({"b"})
    compiled, _ = compile_condition(
        "proc.name = a or proc.name in (b, c) or (proc.name = d and proc.pid = 1)"
    )
    assert compiled is not None and compiled.names == frozenset({"a", "b", "c", "d"})
    compiled, _ = compile_condition("proc.name = a or proc.pid = 3")
    assert compiled is not None and compiled.names is None
    compiled, _ = compile_condition("not evt.type = process_exit")
    assert compiled is not None and EventKind.PROCESS_EXIT not in compiled.kinds
    assert len(compiled.kinds) == len(EventKind) - 1


def test_dup_syscall_names_select_stdio_redirect(compile_condition: CompileCondition) -> None:
    compiled, result = compile_condition("evt.type in (dup, dup2, dup3) and fd.num in (0, 1)")
    assert compiled is not None and compiled.kinds == frozenset({EventKind.STDIO_REDIRECT})
    assert not result.warnings
