"""Local stand-in for Plugchoice: the public-charging API and an OCPP 1.6J central system.

`create_app` is imported on first use, so importing a small part (sessions, payments) does not
pull in FastAPI.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from .api import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
