"""The HTTP API and web dashboard (``hashmarket serve``)."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.api.app import create_app
    from hashmarket.api.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]

__getattr__, __dir__ = lazy_exports(globals())
