"""The HTTP API and web dashboard (``hashmarket serve``)."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.api.app import create_app
    from hashmarket.api.config import ServiceConfig
    from hashmarket.api.keys import Role, ServiceStore, account_id_for_key

__all__ = [
    "Role",
    "ServiceConfig",
    "ServiceStore",
    "account_id_for_key",
    "create_app",
]

__getattr__, __dir__ = lazy_exports(globals())
