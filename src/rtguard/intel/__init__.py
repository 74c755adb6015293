"""Threat-intelligence lists: parsing IPSet and ThreatIntelSet files (TXT and STIX 2.1),
loading them from a file path or an http(s) URL, and the ``IntelView`` the detection side asks
"is this IP trusted / is this IP or domain a known threat?".

Importing this package must not fetch anything.
"""

from rtguard.intel.load import IntelLoadError, load_location
from rtguard.intel.parse import IntelEntries, IntelParseError, parse_list, parse_stix, parse_txt
from rtguard.intel.view import IntelView, StoreIntelProvider, ThreatMatch

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
