"""Provisioning: everyday user operations and the declarative roster, all through write-through."""

from ._writes import WriteThrough

__all__ = ["WriteThrough"]
