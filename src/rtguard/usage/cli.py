"""``rtguard usage``: monitored vCPU-hours and estimated cost of the last 30 days per feature and
per resource, plus the free-trial days left, printed with rich.

It asks the server's GuardDuty API through botocore, signed with the credentials file
``rtguard server`` wrote, rather than reading the database: it then works against a remote
server and a PostgreSQL store alike, never contends for SQLite's write lock with a running
server, and shows exactly what boto3 and the AWS CLI would get. Resource names come from agents
and are escaped before rich renders them. Must not meter or price anything itself.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # rich and the store are imported when the command runs: the agent shares cli.py
    from rich.console import Console

__all__ = ["FEATURES", "UsageSummary", "add_parser", "fetch_summary", "render", "run"]

FEATURES: Final = ("EC2_RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING", "FARGATE_RUNTIME_MONITORING")


@dataclass(slots=True)
class UsageSummary:
    """What ``rtguard usage`` shows: per feature and per (feature, resource), (vCPU-hours, USD)."""

    account_id: str
    features: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    resources: dict[tuple[str, str], tuple[Decimal, Decimal]] = field(default_factory=dict)
    trial_days: dict[str, int] = field(default_factory=dict)


def add_parser(sub: Any) -> None:
    """Add ``usage`` to the top-level subparsers."""
    u = sub.add_parser("usage", help="monitored vCPU-hours and estimated cost (last 30 days)")
    u.add_argument("--data-dir", type=Path, default=Path(os.environ.get("RTGUARD_DATA_DIR", "rtguard-data")),
                   help="the server's data directory (its credentials.json is used)")  # fmt: skip
    u.add_argument(
        "--credentials", type=Path, default=None, help="credentials file (default DATA_DIR/credentials.json)"
    )
    u.add_argument("--endpoint-url", default=None, help="API URL (default: the one in the credentials file)")


def _pages(client: Any, **request: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        answer: dict[str, Any] = client.get_usage_statistics(
            **request, **({"NextToken": token} if token else {})
        )
        yield answer.get("UsageStatistics", {})
        token = answer.get("NextToken")
        if not token:
            return


def _amounts(
    client: Any, detector_id: str, kind: str, key: str, list_key: str, features: list[str]
) -> dict[str, tuple[Decimal, Decimal]]:
    out: dict[str, list[Decimal]] = {}
    for unit in ("VCPU_HOURS", "USD"):
        request = {"DetectorId": detector_id, "UsageStatisticType": kind, "Unit": unit,
                   "UsageCriteria": {"Features": features}}  # fmt: skip
        for stats in _pages(client, **request):
            for item in stats.get(list_key, []):
                out.setdefault(str(item[key]), []).append(Decimal(item["Total"]["Amount"]))
    return {k: (v[0], v[1]) for k, v in out.items() if len(v) == 2}


def fetch_summary(client: Any, detector_id: str, account_id: str) -> UsageSummary:
    """Ask the API (a botocore GuardDuty client) for everything ``rtguard usage`` prints."""
    names = list(FEATURES)
    summary = UsageSummary(account_id=account_id)
    summary.features = _amounts(client, detector_id, "SUM_BY_FEATURES", "Feature", "SumByFeature", names)
    for feature in names:
        for resource, values in _amounts(
            client, detector_id, "SUM_BY_RESOURCE", "Resource", "SumByResource", [feature]
        ).items():
            summary.resources[(feature, resource)] = values
    trial = client.get_remaining_free_trial_days(DetectorId=detector_id, AccountIds=[account_id])
    for account in trial.get("Accounts", []):
        for item in account.get("Features", []):
            summary.trial_days[str(item["Name"])] = int(item["FreeTrialDaysRemaining"])
    return summary


def render(summary: UsageSummary, console: Console) -> None:
    """Print the two tables. Every string that came from agents is escaped."""
    from rich.markup import escape
    from rich.table import Table

    features = Table(title=f"Runtime Monitoring usage, last 30 days, account {escape(summary.account_id)}")
    for column in ("Feature", "vCPU-hours", "Estimated cost (USD)", "Free trial days left"):
        features.add_column(column, justify="left" if column == "Feature" else "right")
    total = Decimal(0)
    for name, (hours, usd) in sorted(summary.features.items()):
        total += usd
        days = summary.trial_days.get(name)
        features.add_row(escape(name), f"{hours:.4f}", f"{usd:.6f}", "" if days is None else str(days))
    features.add_row("[bold]Total[/bold]", "", f"[bold]{total:.6f}[/bold]", "")
    console.print(features)
    resources = Table(title="By resource (task ARN for Fargate, instance id for EC2 and EKS)")
    for column in ("Feature", "Resource", "vCPU-hours", "Estimated cost (USD)"):
        resources.add_column(column, justify="right" if column[0] in "vE" else "left", overflow="fold")
    for (feature, resource), (hours, usd) in sorted(
        summary.resources.items(), key=lambda kv: (-kv[1][1], kv[0])
    ):
        resources.add_row(escape(feature), escape(resource), f"{hours:.4f}", f"{usd:.6f}")
    if not summary.resources:
        console.print("No monitored usage in the last 30 days.")
    else:
        console.print(resources)


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    """``rtguard usage``: print the summary; 1 with a message when the server cannot be asked."""
    import botocore.session
    from botocore.exceptions import BotoCoreError, ClientError
    from rich.console import Console
    from rich.markup import escape

    from rtguard.server import load_credentials

    out = console or Console()
    path = args.credentials or args.data_dir / "credentials.json"
    try:
        cred = load_credentials(path)
    except (OSError, ValueError) as exc:
        out.print(f"rtguard usage: cannot read credentials {escape(str(path))}: {escape(str(exc))}\n"
                  "Pass --data-dir (the server's) or --credentials.", markup=False)  # fmt: skip
        return 1
    client = botocore.session.get_session().create_client(
        "guardduty",
        endpoint_url=args.endpoint_url or cred.endpoint_url,
        region_name=cred.region,
        aws_access_key_id=cred.aws_access_key_id,
        aws_secret_access_key=cred.aws_secret_access_key,
    )
    try:
        summary = fetch_summary(client, cred.detector_id, cred.account_id)
    except (BotoCoreError, ClientError) as exc:
        out.print(f"rtguard usage: the server at {args.endpoint_url or cred.endpoint_url} did not answer: {exc}\n"
                  "Is `rtguard server` running? Pass --endpoint-url if it listens elsewhere.", markup=False)  # fmt: skip
        return 1
    render(summary, out)
    return 0
