"""rtguard: runtime threat detection for containers, GuardDuty Runtime Monitoring compatible.

The package root only names the version; every layer lives in its own subpackage (see
``docs/architecture.md``). Importing it must stay cheap and side-effect free.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
