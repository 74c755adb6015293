"""``rtguard intel …``: ``update`` downloads public feeds into a local feed directory (see
``rtguard.intel.update``) and ``check`` reads the shipped feed plus directories the way the
server does and prints what they hold. Parses flags and prints; the work is elsewhere."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rtguard.intel.feed import CATEGORIES, FeedError, load_feed
from rtguard.intel.update import (
    MAX_FEED_BYTES,
    MAX_FEED_ENTRIES,
    FeedSource,
    FeedUpdateError,
    parse_source,
    update_feeds,
)

__all__ = ["add_parser", "run"]

ENV_INTEL_DIR = "RTGUARD_INTEL_DIR"


def _source(value: str) -> FeedSource:
    try:
        return parse_source(value)
    except FeedUpdateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def add_parser(sub: Any) -> None:
    """Add ``intel`` and its subcommands to the top-level subparsers."""
    i = sub.add_parser("intel", help="threat-intelligence feeds (see docs/threat-intel.md)")
    isub = i.add_subparsers(dest="intel_command", required=True)
    u = isub.add_parser(
        "update",
        help="download public feeds into a local feed directory (read by 'rtguard server --intel-dir')",
        description="Fetch each source, validate every line, then write OUT/NAME.json atomically; "
        "if any source fails nothing is written. Categories: " + ", ".join(CATEGORIES) + ".",
    )
    u.add_argument(
        "--source",
        type=_source,
        action="append",
        required=True,
        metavar="NAME=CATEGORY@URL[:FORMAT]",
        help="a feed; FORMAT is txt (default), hosts, csv, csv/N (1-based column) or csv/HEADER (repeatable)",
    )
    default_out = os.environ.get(ENV_INTEL_DIR, "")
    u.add_argument("--out", type=Path, default=Path(default_out) if default_out else None,
                   required=not default_out, help=f"the local feed directory (or {ENV_INTEL_DIR})")  # fmt: skip
    u.add_argument("--max-bytes", type=_positive, default=MAX_FEED_BYTES, help="largest download per source")
    u.add_argument("--max-entries", type=_positive, default=MAX_FEED_ENTRIES, help="most entries per source")
    u.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds per network operation; ten times this for a whole download",
    )
    c = isub.add_parser("check", help="load the shipped feed and local feed directories; print counts")
    c.add_argument("dirs", type=Path, nargs="*", help="local feed directories")


def _update(args: argparse.Namespace) -> int:
    try:
        results = update_feeds(
            args.source,
            args.out,
            max_bytes=args.max_bytes,
            max_entries=args.max_entries,
            timeout=args.timeout,
        )
    except FeedUpdateError as exc:
        print(f"rtguard intel update: {exc}; nothing was written", file=sys.stderr)
        return 1
    except OSError as exc:  # writing: files already renamed are complete, the others untouched
        print(f"rtguard intel update: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.source.name} ({r.source.category}): {r.domains} domains, {r.networks} networks, "
              f"{r.skipped} skipped -> {r.path}")  # fmt: skip
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        feed = load_feed(args.dirs)
    except FeedError as exc:
        print(f"rtguard intel check: {exc}", file=sys.stderr)
        return 1
    print(f"{len(feed.categories)} groups, {len(feed.domains)} domains, {len(feed.suffixes)} suffixes, "
          f"{feed.network_count} networks, {len(feed.tor_nodes)} Tor nodes")  # fmt: skip
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the ``intel`` subcommand named in ``args``."""
    return {"update": _update, "check": _check}[args.intel_command](args)
