"""Where a board's "Scan to Pay" QR code leads when the board points at the local backend.

The local backend serves the driver's page next to its OCPP endpoint: a board whose csms_url
is `ws://H:P/ocpp` gets `public_url` = `http://H:P/p/{public_code}` (wss -> https). Plugchoice
or any other central system keeps the operator's page (the firmware's default is Plugchoice's).

    page_url_for("ws://192.168.1.20:8180/ocpp")  -> "http://192.168.1.20:8180/p/{public_code}"
    with_local_page(config)  -> (config with public_url, the URL) when that backend serves it
"""

from __future__ import annotations

import re

import httpx

_LOCAL_CSMS = re.compile(r"^(wss?)://([^/?#\s]+)/ocpp/?$")
PAGE_ASSET = "/p/assets/pay.js"  # what only the local backend serves


def page_url_for(csms_url: str) -> str | None:
    """The page URL (with `{public_code}`) of a local-backend-shaped csms_url, else None."""
    m = _LOCAL_CSMS.match(csms_url) if isinstance(csms_url, str) else None
    if m is None:
        return None
    scheme = "https" if m.group(1) == "wss" else "http"
    return f"{scheme}://{m.group(2)}/p/{{public_code}}"


def serves_page(page_url: str, timeout: float = 1.5) -> bool:
    """Whether the backend behind `page_url` answers with the page's script (it is running
    and it is ours, not another central system whose path happens to end in /ocpp)."""
    origin = page_url.split("/p/", 1)[0]
    try:
        r = httpx.get(origin + PAGE_ASSET, timeout=timeout)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.headers.get("content-type", "").startswith("text/javascript")


def with_local_page(config: dict) -> tuple[dict, str | None]:
    """`config` with `public_url` set to the local backend's page when it has none, its csms_url
    is the local backend's and that backend answers; else `config` unchanged and None."""
    if not isinstance(config, dict) or config.get("public_url") is not None:
        return config, None
    page = page_url_for(config.get("csms_url", ""))
    if page is None or not serves_page(page):
        return config, None
    return {**config, "public_url": page}, page
