"""Local stand-in for Plugchoice: the public-charging API and an OCPP 1.6J central system."""

from .api import create_app

__all__ = ["create_app"]
