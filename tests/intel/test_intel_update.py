"""``rtguard intel update``: sources fetched from a local HTTP server (127.0.0.1 only), every
line validated, atomic all-or-nothing writes, size limits, and the server reading the
directory with ``--intel-dir``."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rtguard.cli import main
from rtguard.detect.detectors.threatintel import ThreatIntelDetector
from rtguard.intel.feed import load_feed
from rtguard.intel.update import FeedSource, FeedUpdateError, parse_feed, parse_source, update_feeds
from rtguard.model.findings import Detection
from rtguard.testing.events import connect_event, dns_event


@dataclass
class Feeds:
    """What the local server answers: path → (status, body, extra headers)."""

    base: str
    routes: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def put(self, path: str, body: bytes | str, status: int = 200, **headers: str) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = (status, data, {k.replace("_", "-"): v for k, v in headers.items()})
        return self.base + path


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    state = Feeds(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            status, body, headers = state.routes.get(self.path, (404, b"not found", {}))
            self.send_response(status)
            chunked = headers.pop("chunked", None) is not None
            trickle = float(headers.pop("trickle", "0"))
            for key, value in headers.items():
                self.send_header(key, value)
            if chunked:  # no Content-Length: the client must count while reading
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                step = 1024 if trickle else 65536
                for i in range(0, len(body), step):
                    part = body[i : i + step]
                    try:
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        break
                    time.sleep(trickle)
                else:
                    self.wfile.write(b"0\r\n\r\n")
                headers["chunked"] = "1"
                if trickle:
                    headers["trickle"] = str(trickle)
                return
            self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _types(dets: list[Detection]) -> list[str]:
    return [d.finding_type for d in dets]


def _dns(det: ThreatIntelDetector, name: str) -> list[Detection]:
    return det.on_event(dns_event(name), det.new_state())


PHISH = "# a phishing list\nphish-login.example\n\n*.paypa1-secure.example  # trailing comment\n"


def test_a_fetched_domain_gives_its_category_type_through_the_detector(feeds: Feeds, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    url = feeds.put("/phish.txt", PHISH)
    hosts = feeds.put(
        "/pools.hosts", "127.0.0.1 localhost\n0.0.0.0 pool.minerz.example other.minerz.example\n"
    )
    out = tmp_path / "intel"
    code = main(["intel", "update", "--source", f"phish=phishing@{url}", "--source",
                 f"pools=crypto@{hosts}:hosts", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "phish (phishing): 2 domains, 0 networks, 0 skipped" in printed
    assert "pools (crypto): 2 domains, 0 networks, 1 skipped" in printed
    assert sorted(p.name for p in out.iterdir()) == ["phish.json", "pools.json"]
    det = ThreatIntelDetector(load_feed([out]))
    dets = _dns(det, "www.phish-login.example")
    assert _types(dets) == ["Trojan:Runtime/PhishingDomainRequest!DNS"]
    assert dets[0].evidence[0].threat_list_name == "phish"
    assert _types(_dns(det, "a.paypa1-secure.example")) == ["Trojan:Runtime/PhishingDomainRequest!DNS"]
    assert _types(_dns(det, "pool.minerz.example")) == ["CryptoCurrency:Runtime/BitcoinTool.B!DNS"]
    assert _dns(det, "minerz.example") == [] and _dns(det, "localhost") == []
    assert _dns(ThreatIntelDetector(), "www.phish-login.example") == [], "only with the directory"
    assert main(["intel", "check", str(out)]) == 0
    assert "domains" in capsys.readouterr().out


def test_the_server_loads_the_intel_dir_at_start(feeds: Feeds, tmp_path: Path) -> None:
    from rtguard.server import ServerConfig, build_server

    url = feeds.put("/c2.csv", "# first_seen,ip,port\n2026-01-01,8.8.4.4,443\n2026-01-01,10.1.1.1,443\n")
    out = tmp_path / "intel"
    [result] = update_feeds([parse_source(f"c2ips=c2@{url}:csv/2")], out)
    assert (result.networks, result.skipped) == (1, 1), "a private address is skipped, not listed"
    server = build_server(ServerConfig(data_dir=tmp_path / "data", intel_dirs=(out,)))
    assert server.worker is not None  # role "all" runs detection
    engine = server.worker._engine  # the engine the worker runs
    assert "Backdoor:Runtime/C&CActivity.B" in _types(engine.evaluate(connect_event("8.8.4.4", 443)))
    assert "Backdoor:Runtime/C&CActivity.B!DNS" in _types(
        engine.evaluate(dns_event("c2.guarddutyc2activityb.com"))
    )
    server.store.close()
    (out / "broken.json").write_text('{"version": 2, "categories": [{"category": "c2", "threatListName": "x", '
                                     '"domains": ["bad..name"]}]}')  # fmt: skip
    with pytest.raises(
        SystemExit, match=r"--intel-dir: .*broken\.json: group 0: invalid domain 'bad\.\.name'"
    ):
        build_server(ServerConfig(data_dir=tmp_path / "data2", intel_dirs=(out,)))


def test_a_malformed_feed_gives_a_clear_error_and_leaves_the_previous_feed(
    feeds: Feeds, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "intel"
    good = feeds.put("/list.txt", PHISH)
    other = feeds.put("/other.txt", "evil.example\n")
    args = [
        "intel",
        "update",
        "--source",
        f"other=c2@{other}",
        "--source",
        f"phish=phishing@{good}",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    feeds.put("/list.txt", "ok.example\n# fine\nnot a domain\x1b[2J\n")
    feeds.put("/other.txt", "replaced.example\n")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "phish: line 3: expected one entry per line, got 'not a domain\\x1b[2J'" in err
    assert "\x1b" not in err, "attacker-controlled text is escaped"
    assert "nothing was written" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "all or nothing, no temp files left"


def test_a_huge_feed_is_refused_with_or_without_content_length(feeds: Feeds, tmp_path: Path) -> None:
    out = tmp_path / "intel"
    body = "".join(f"host{i}.example\n" for i in range(20000)).encode()
    plain = feeds.put("/big.txt", body)
    chunked = feeds.put("/big-chunked.txt", body, chunked="1")
    bomb = feeds.put("/bomb.txt", gzip.compress(b"a.example\n" * 500_000), Content_Encoding="gzip")
    for url in (plain, chunked, bomb):
        with pytest.raises(FeedUpdateError, match="larger than the limit of 100000 bytes; refused"):
            update_feeds([parse_source(f"big=c2@{url}")], out, max_bytes=100_000)
    assert not out.exists()
    with pytest.raises(FeedUpdateError, match="line 11: more than 10 entries; refused"):
        update_feeds([parse_source(f"big=c2@{plain}")], out, max_entries=10)
    [ok] = update_feeds([parse_source(f"big=c2@{plain}")], out)
    assert ok.domains == 20000


def test_a_trickling_server_cannot_hold_the_update(feeds: Feeds, tmp_path: Path) -> None:
    url = feeds.put("/slow.txt", "a.example\n" * 4000, chunked="1", trickle="0.1")
    with pytest.raises(FeedUpdateError, match=r"the download took longer than 2 s; refused"):
        update_feeds([parse_source(f"slow=c2@{url}")], tmp_path, timeout=0.2)  # 40 chunks, 0.1 s apart
    assert list(tmp_path.iterdir()) == []


def test_http_errors_and_empty_feeds_are_refused(feeds: Feeds, tmp_path: Path) -> None:
    with pytest.raises(FeedUpdateError, match="answered HTTP 404"):
        update_feeds([parse_source(f"x=c2@{feeds.base}/missing")], tmp_path)
    empty = feeds.put("/empty.txt", "# nothing here\n\n")
    with pytest.raises(FeedUpdateError, match="x: no entries"):
        update_feeds([parse_source(f"x=c2@{empty}")], tmp_path)
    html = feeds.put("/page", "<!DOCTYPE html>\n<html>\n")
    with pytest.raises(FeedUpdateError, match="x: line 1: expected one entry per line"):
        update_feeds([parse_source(f"x=c2@{html}")], tmp_path)
    assert list(tmp_path.iterdir()) == []


def _src(category: str = "c2", fmt: str = "txt", column: str = "1") -> FeedSource:
    return FeedSource("t", category, "http://127.0.0.1/x", fmt, column)


@pytest.mark.parametrize(
    ("text", "source", "message"),
    [("1.2.3.4\n0.0.0.0/0\n", _src(), "line 2: network '0.0.0.0/0' is broader than /8"),
     ("ok.example\n\xff\n".encode("latin-1"), _src(), "line 2: not UTF-8 text"),
     ("a.example\nb\x00.example\n", _src(), "line 2: contains a NUL byte"),
     ("x" * 5000 + "\n", _src(), "line 1: longer than 4096 characters"),
     ("8.8.8.8\n", _src("phishing"), "line 1: category phishing lists domains only"),
     ("a.example\n", _src("tor-guard"), "line 1: category tor-guard lists addresses only"),
     ("-bad-.example\n", _src(), "line 1: not an IP address, CIDR block or domain: '-bad-.example'"),
     ("0.0.0.0\n", _src(fmt="hosts"), "line 1: expected 'ADDRESS name"),
     ("evil.example 0.0.0.0\n", _src(fmt="hosts"), "line 1: expected 'ADDRESS name"),
     ("0.0.0.0 1.2.3.4\n", _src(fmt="hosts"), "expected a host name after the address"),
     ("a,b\n1,2\n", _src(fmt="csv", column="3"), "line 1: no column 3"),
     ("a,b\n", _src(fmt="csv", column="host"), "line 1: header has no column 'host'"),
     ('"a.example\n', _src(fmt="csv"), "line 1: malformed CSV"),
     (",a.example\n", _src(fmt="csv"), "line 1: column 1 is empty"),
     ("https:///nohost\n", _src(), "not a URL with a host name")],
)  # fmt: skip
def test_every_line_is_validated(text: str | bytes, source: FeedSource, message: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(
        FeedUpdateError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")
    ):
        parse_feed(data, source)


def test_formats_csv_header_urls_idn_and_non_public_addresses() -> None:
    csv_text = ("# comment\nid,url,threat\n1,https://Bad.Example/path?q=1,malware\n2,\"http://[2001:4860::1]:8080/x\",c2\n"
                "3,http://xn--bcher-kva.example/,x\n4,http://192.168.1.5/a,x\n")  # fmt: skip
    parsed = parse_feed(csv_text.encode(), _src(fmt="csv", column="url"))
    assert list(parsed.domains) == ["bad.example", "xn--bcher-kva.example"]
    assert list(parsed.networks) == ["2001:4860::1/128"]
    assert parsed.skipped == 1
    txt = "bücher.example\n8.8.8.0/24 ; spamhaus-style comment\n127.0.0.1\n192.0.2.1\n224.0.0.1\n1.1.1.1\n1.1.1.1\n"
    parsed = parse_feed(txt.encode(), _src())
    assert list(parsed.domains) == ["xn--bcher-kva.example"]
    assert list(parsed.networks) == ["8.8.8.0/24", "1.1.1.1/32"]
    assert parsed.skipped == 3


def test_source_specifications() -> None:
    assert parse_source("a=c2@https://h.example/f.txt") == FeedSource("a", "c2", "https://h.example/f.txt")
    assert parse_source("b=crypto@http://127.0.0.1:8080/l:hosts") == FeedSource(
        "b", "crypto", "http://127.0.0.1:8080/l", "hosts"
    )
    assert parse_source("c=c2@http://h:81/f.csv:csv/ip_address").column == "ip_address"
    assert parse_source("d=c2@/srv/feeds/list.txt:csv/3") == FeedSource(
        "d", "c2", "/srv/feeds/list.txt", "csv", "3"
    )
    assert parse_source("e=c2@http://h:8080").url == "http://h:8080"
    for spec, message in [("noequals", "expected NAME=CATEGORY@URL"), ("x=c2", "expected NAME=CATEGORY@URL"),
                          ("../x=c2@http://h/", "source name '../x'"), ("x=bogus@http://h/", "unknown category 'bogus'"),
                          ("x=c2@ftp://h/f", "location must be"), ("x=c2@relative/path", "location must be"),
                          ("x=c2@http://h/f:txt/2", "format txt takes no column")]:  # fmt: skip
        with pytest.raises(FeedUpdateError, match=message.replace(".", r"\.")):
            parse_source(spec)


def test_cli_rejects_a_bad_source_before_fetching(
    feeds: Feeds, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["intel", "update", "--source", "x=nope@http://127.0.0.1:1/", "--out", str(tmp_path)])
    assert "unknown category 'nope'" in capsys.readouterr().err
    url = feeds.put("/a.txt", "a.example\n")
    assert (
        main(
            ["intel", "update", "--source", f"x=c2@{url}", "--source", f"x=c2@{url}", "--out", str(tmp_path)]
        )
        == 1
    )
    assert "each --source needs its own NAME" in capsys.readouterr().err
    doc = json.loads((update_feeds([parse_source(f"x=c2@{url}")], tmp_path)[0].path).read_text())
    assert doc["version"] == 2 and doc["fetched"]["url"] == url and len(doc["fetched"]["sha256"]) == 64


def test_server_intel_dir_flag_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rtguard.server

    seen: list[tuple[Path, ...]] = []
    monkeypatch.setattr(rtguard.server, "serve", lambda config, ready=None: seen.append(config.intel_dirs))
    monkeypatch.setenv("RTGUARD_INTEL_DIR", str(tmp_path / "env"))
    assert main(["server", "--data-dir", str(tmp_path / "d")]) == 0
    assert main(["server", "--data-dir", str(tmp_path / "d"), "--intel-dir", "/a", "--intel-dir", "/b"]) == 0
    assert seen == [(tmp_path / "env",), (Path("/a"), Path("/b"))]
