"""The web console: server-rendered pages (Jinja2, no JavaScript) mounted at ``/console/`` that
show an account its findings, coverage and agents, behind a sign-in with the account's access
keys. See ``docs/console.md``. Must not hold queries or business logic of its own.
"""

from rtguard.console.app import ConsoleConfig, build_console, mount_console

__all__ = ["ConsoleConfig", "build_console", "mount_console"]
