"""Test helpers shipped with the product: containers, fake ECS endpoints, privilege policy.

Typed and linted like the rest; production code must never import this package.
"""

__all__: list[str] = []
