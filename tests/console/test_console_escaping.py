"""Attacker-controlled strings (command lines, paths, agent ids, container names and images, DNS
names, issue strings, filter input) are escaped on every console page, in text, attributes and
URLs: the raw payloads never reach the HTML, their escaped forms do, and links to hostile ids
are percent-encoded and lead back to the right finding."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlencode

import httpx
import pytest

from rtguard.console.render import link

from .conftest import HOSTILE_AGENT, HOSTILE_ID, IMG, JS_URL, RAW_PAYLOADS, SCRIPT, ConsoleEnv

ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_IMG = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
_URL_ATTRS = frozenset({"href", "src", "action", "formaction"})


class _Elements(HTMLParser):
    """Every element and attribute the page really has, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_safe(html: str) -> None:
    """No raw payload; the parsed page has no script or img element, no event handler attribute
    and no URL outside the console."""
    for payload in RAW_PAYLOADS:
        assert payload not in html
    parser = _Elements()
    parser.feed(html)
    parser.close()
    assert parser.tags, "not an HTML page"
    for tag, attrs in parser.tags:
        assert tag not in ("script", "img", "iframe", "object", "embed"), tag
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in _URL_ATTRS:
                assert (value or "").startswith("/console"), (tag, name, value)


PAGES = [
    "/console/",
    "/console/findings?status=all",
    "/console/findings?" + urlencode({"status": "all", "rf": "container", "resource": IMG}),
    "/console/findings?" + urlencode({"status": "all", "type": SCRIPT}),
    "/console/finding?" + urlencode({"id": HOSTILE_ID}),
    "/console/coverage",
    "/console/agents",
    "/console/usage",
    "/console/agents?" + urlencode({"agent": HOSTILE_AGENT}),
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_escape_hostile_strings(browser_session: httpx.Client, path: str) -> None:
    response = browser_session.get(path)
    assert response.status_code == 200, response.text
    assert_safe(response.text)


def test_hostile_finding_is_shown_escaped_not_dropped(browser_session: httpx.Client) -> None:
    html = browser_session.get("/console/finding", params={"id": HOSTILE_ID}).text
    assert_safe(html)
    assert ESCAPED_SCRIPT in html  # process name, title, command line, DNS name
    assert ESCAPED_IMG in html  # executable path, lineage name, container name
    assert "javascript:alert(1)" in html  # shown as text only (assert_safe checked every URL)
    assert (
        "sh -c &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;\n" in html
    )  # newline kept in a pre-wrap cell
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.evil.example" in html
    # the reporting agent, linked with its id percent-encoded
    agent_link = link("/console/agents", agent=HOSTILE_AGENT)
    assert f'<a href="{agent_link}">agent-{ESCAPED_SCRIPT}{ESCAPED_IMG}\njavascript:alert(1)</a>' in html
    # the hidden id field of the archive form keeps the id exact, escaped in its attribute
    assert 'name="id" value="h&#34;&gt;&lt;img src=x onerror=alert(1)&gt;/?&amp;#x"' in html


def test_links_to_hostile_ids_are_percent_encoded_and_work(
    console_env: ConsoleEnv, browser_session: httpx.Client
) -> None:
    html = browser_session.get("/console/findings", params={"status": "all"}).text
    expected = link("/console/finding", id=HOSTILE_ID)
    assert expected == "/console/finding?id=h%22%3E%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E%2F%3F%26%23x"
    assert f'href="{expected}"' in html
    detail = browser_session.get(expected)
    assert detail.status_code == 200
    assert (
        HOSTILE_ID.replace("&", "&amp;").replace('"', "&#34;").replace("<", "&lt;").replace(">", "&gt;")
        in detail.text
    )
    agents = browser_session.get("/console/").text
    agent_link = link("/console/agents", agent=HOSTILE_AGENT)
    assert f'href="{agent_link.replace("&", "&amp;")}"' in agents
    assert "%0A" in agent_link and "%3Cscript%3E" in agent_link
    only = browser_session.get(agent_link).text
    assert only.count('class="panel agent"') == 1  # the link selects exactly that agent
    assert_safe(only)


def test_agent_strings_are_escaped(browser_session: httpx.Client) -> None:
    html = browser_session.get("/console/agents").text
    assert_safe(html)
    assert f"agent-{ESCAPED_SCRIPT}{ESCAPED_IMG}\njavascript:alert(1)" in html
    assert "dropped: " + ESCAPED_SCRIPT in html
    assert ESCAPED_IMG in html  # host name and blind spot


def test_issue_strings_are_escaped(browser_session: httpx.Client) -> None:
    html = browser_session.get("/console/coverage").text
    assert_safe(html)
    assert f"web:{ESCAPED_SCRIPT}" in html


def test_error_and_sign_in_pages_escape_their_input(console_env: ConsoleEnv) -> None:
    with console_env.client() as client:
        login = client.get("/console/login", params={"next": f"/console/{IMG}{SCRIPT}"})
        assert login.status_code == 200
        assert_safe(login.text)
        assert ESCAPED_IMG in login.text
        assert JS_URL not in client.get("/console/login", params={"next": JS_URL}).text
    with console_env.signed_in() as client:
        bad = client.get("/console/findings", params={"severity": SCRIPT})
        assert bad.status_code == 400
        assert_safe(bad.text)
        long_filter = client.get("/console/findings", params={"resource": SCRIPT * 40})
        assert long_filter.status_code == 400
        assert_safe(long_filter.text)
        missing = client.get(f"/console/{SCRIPT}")
        assert missing.status_code == 404
        assert_safe(missing.text)
