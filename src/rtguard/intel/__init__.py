"""Threat-intelligence lists: parsing IPSet and ThreatIntelSet files (TXT and STIX 2.1),
loading them from a file path or an http(s) URL, and the ``IntelView`` the detection side asks
"is this IP trusted / is this IP or domain a known threat?".

Importing this package must not fetch anything, and must stay light: the names below are
loaded on first use, so that the command line (which registers ``rtguard intel``) and the
agent do not pull the store, HTTP clients or the database driver in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtguard.intel.load import IntelLoadError, load_location
    from rtguard.intel.parse import IntelEntries, IntelParseError, parse_list, parse_stix, parse_txt
    from rtguard.intel.view import IntelView, StoreIntelProvider, ThreatMatch

_WHERE = {
    "IntelLoadError": "load",
    "load_location": "load",
    "IntelEntries": "parse",
    "IntelParseError": "parse",
    "parse_list": "parse",
    "parse_stix": "parse",
    "parse_txt": "parse",
    "IntelView": "view",
    "StoreIntelProvider": "view",
    "ThreatMatch": "view",
}

__all__ = [
    "IntelEntries",
    "IntelLoadError",
    "IntelParseError",
    "IntelView",
    "StoreIntelProvider",
    "ThreatMatch",
    "load_location",
    "parse_list",
    "parse_stix",
    "parse_txt",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rtguard.intel' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rtguard.intel.{module}"), name)
