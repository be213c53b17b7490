"""The HTTP API and web dashboard (``hashmarket serve``)."""

from hashmarket.api.app import create_app
from hashmarket.api.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
