"""HTML rendering for the console: the Jinja2 environment (package templates, autoescape always
on, undefined variables are errors), link building with proper URL quoting, and small display
helpers (severity bands and their CSS classes, timestamps, ages, bounded text).

Every value from an agent or a monitored process reaches HTML only through an autoescaped
template expression, and reaches a URL only through :func:`link` (``urlencode`` / ``quote``);
CSS class names are chosen from fixed tables here, never taken from data. Must not read the
store or decide what a page shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

__all__ = [
    "ENV",
    "SEVERITY_BANDS",
    "age",
    "epoch_text",
    "link",
    "page",
    "pretty_json",
    "severity_band",
    "severity_class",
]

# GuardDuty's severity bands (API FindingCriteria doc): name, lower bound (inclusive), upper (exclusive).
SEVERITY_BANDS: Final[tuple[tuple[str, float, float], ...]] = (
    ("Critical", 9.0, math.inf),
    ("High", 7.0, 9.0),
    ("Medium", 4.0, 7.0),
    ("Low", -math.inf, 4.0),
)
_SEVERITY_CLASS: Final[Mapping[str, str]] = {
    "Critical": "sev-critical",
    "High": "sev-high",
    "Medium": "sev-medium",
    "Low": "sev-low",
}


def severity_band(value: Any) -> str:
    """The band name of a numeric severity (non-numbers count as Low)."""
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
    for name, low, high in SEVERITY_BANDS:
        if low <= number < high:
            return name
    return "Low"


def severity_class(value: Any) -> str:
    """A fixed CSS class for a severity or a band name."""
    band = value if isinstance(value, str) and value in _SEVERITY_CLASS else severity_band(value)
    return _SEVERITY_CLASS[band]


def link(path: str, **params: Any) -> str:
    """A console URL: ``path`` (a fixed route of ours) plus the non-empty parameters, encoded."""
    if not path.startswith("/console"):
        raise ValueError(f"console links must stay in the console, not {path!r}")
    query = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    return f"{path}?{urlencode(query)}" if query else path


def epoch_text(seconds: Any) -> str:
    """Epoch seconds as UTC ISO text; '-' when absent."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "-"
    try:
        return datetime.fromtimestamp(float(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "-"


def age(seconds: float) -> str:
    """A short human duration ("4 s", "3 min", "2 h", "5 d")."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def pretty_json(value: Any) -> str:
    """Indented JSON text (escaped by the template like any other text)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


ENV: Final = Environment(
    loader=PackageLoader("rtguard.console", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals.update(link=link, severity_class=severity_class, severity_band=severity_band)
ENV.filters.update(epoch=epoch_text, pretty_json=pretty_json)


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template of ``templates/`` into an HTML response."""
    return HTMLResponse(ENV.get_template(template).render(**context), status_code=status)
