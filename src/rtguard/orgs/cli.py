"""``rtguard accounts …``: create further accounts on a server (``create``) and list the accounts
with their place in the organization (``list``). Reads the server's data directory (its
credentials file names the management account) and opens the same store the server uses.

Argument parsing, files and printing only: account and organization rules live in
``rtguard.orgs.accounts`` and ``rtguard.orgs.service``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``accounts`` and its subcommands to the top-level subparsers."""
    a = sub.add_parser(
        "accounts", help="accounts of this server and its organization (see docs/organizations.md)"
    )
    asub = a.add_subparsers(dest="accounts_command", required=True)
    for name, text in (("create", "create an account (joins the organization unless --standalone)"),
                       ("list", "list accounts: organization role, administrator, runtime monitoring")):  # fmt: skip
        p = asub.add_parser(name, help=text)
        p.add_argument(
            "--data-dir", type=Path, default=Path("rtguard-data"), help="the server's data directory"
        )
        p.add_argument("--store", default=None, help="store URL (default: the data directory's SQLite file)")
        if name == "create":
            p.add_argument("--email", default=None, help="the account's e-mail (recorded, never sent to)")
            p.add_argument("--standalone", action="store_true", help="do not join the organization")
            p.add_argument("--runtime-monitoring", action="store_true", help="enable RUNTIME_MONITORING now")
            p.add_argument("-o", "--output", type=Path, default=None,
                           help="credentials file to write (default: DATA_DIR/accounts/<account id>.json)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run ``rtguard accounts …``; returns the exit code."""
    from rich.console import Console

    from rtguard.server import (
        CREDENTIALS_FILE,
        Credentials,
        ServerConfig,
        load_credentials,
        write_credentials,
    )
    from rtguard.store import SqlStore

    console = Console(highlight=False)
    cred_path = args.data_dir / CREDENTIALS_FILE
    try:
        server_cred = load_credentials(cred_path)
    except (OSError, ValueError) as exc:
        console.print(f"[red]rtguard accounts[/red]: cannot read {cred_path} ({exc}); start `rtguard server "
                      f"--data-dir {args.data_dir}` once first, or pass the right --data-dir", markup=True)  # fmt: skip
        return 2
    store = SqlStore(ServerConfig(data_dir=args.data_dir, store_url=args.store).resolved_store_url())
    try:
        if args.accounts_command == "list":
            _list(store, server_cred.account_id, console)
            return 0
        from rtguard.orgs.accounts import create_account

        made = create_account(
            store,
            management_account_id=server_cred.account_id,
            region=server_cred.region,
            now_ms=int(time.time() * 1000),
            email=args.email,
            standalone=args.standalone,
            runtime_monitoring=args.runtime_monitoring,
        )
        cred = Credentials(
            account_id=made.account_id,
            detector_id=made.detector_id,
            region=made.region,
            endpoint_url=server_cred.endpoint_url,
            aws_access_key_id=made.aws_access_key_id,
            aws_secret_access_key=made.aws_secret_access_key,
            agent_token=made.agent_token,
        )
        out = args.output or args.data_dir / "accounts" / f"{made.account_id}.json"
        write_credentials(out, cred)
        where = f"organization {made.org_id}" if made.org_id else "standalone"
        console.print(f"created account {made.account_id} ({where}); credentials: {out}")
        if made.member_of is not None:
            console.print(f"auto-enabled as a member of administrator {made.member_of.admin_account_id}")
        return 0
    finally:
        store.close()


def _list(store: Any, management_account_id: str, console: Any) -> None:
    from rich.table import Table

    from rtguard.orgs.service import ensure_organization

    org_id = ensure_organization(store, management_account_id, int(time.time() * 1000))
    config = store.org_config(org_id)
    admin = config.admin_account_id if config else None
    table = Table(title=f"organization {org_id}")
    for column in ("account", "role", "administrator", "relationship", "runtime monitoring"):
        table.add_column(column)
    for account in store.org_accounts(org_id):
        aid = account.account_id
        role = "management" if account.management else "member account"
        if aid == admin:
            role += ", delegated administrator"
        associated = [m for m in store.memberships(aid) if m.status in ("Enabled", "Disabled")]
        detectors = store.list_detectors(aid)
        detector = store.get_detector(aid, detectors[0]) if detectors else None
        runtime = next(
            (
                f["status"]
                for f in (detector or {}).get("features", [])
                if f.get("name") == "RUNTIME_MONITORING"
            ),
            "no detector",
        )
        table.add_row(
            aid,
            role,
            associated[0].admin_account_id if associated else "-",
            associated[0].status if associated else "-",
            runtime,
        )
    console.print(table)
