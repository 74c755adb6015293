"""Multi-account behaviour: the organization (its management account, delegated administrator and
auto-enable settings), administrator–member relationships, and creating further accounts.

Importing this package must not import its modules; callers import ``rtguard.orgs.service`` or
``rtguard.orgs.accounts``.
"""
