"""The driver's "Scan to Pay" page: what the QR code on the charger's display opens.

    GET /p/{code}            the page (one HTML file; the code is read from the path by pay.js)
    GET /p/assets/{name}     pay.js and pay.css

No build step: three files in `page/`, served as they are. The page talks only to the public
API it is served next to (/api/v3/public-charging/...) and, with the local payment provider,
to the local stand-in for Stripe's confirmPayment. With `--payments stripe` it loads Stripe.js
from Stripe (and the Content-Security-Policy lets it); otherwise nothing leaves this backend,
so the page works on a bench with no internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

PAGE = "/p/{code}"
ASSETS = "/p/assets/{name}"
PAGE_DIR = Path(__file__).with_name("page")
_TYPES = {"pay.js": "text/javascript; charset=utf-8", "pay.css": "text/css; charset=utf-8"}

# Local payments: every fetch, script and style from this origin only.
_CSP_LOCAL = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; frame-src 'none'; base-uri 'none'; form-action 'self'; "
              "frame-ancestors 'none'")
# Stripe's Payment Element: its script, its frames and its API (Stripe's CSP guidance).
_CSP_STRIPE = ("default-src 'self'; script-src 'self' https://js.stripe.com; style-src 'self'; "
               "img-src 'self' data: https://*.stripe.com; connect-src 'self' https://api.stripe.com; "
               "frame-src https://js.stripe.com https://hooks.stripe.com; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")


def page_html(payments: str) -> str:
    """The page with the payment provider's name in its `payments` meta tag."""
    html = (PAGE_DIR / "pay.html").read_text(encoding="utf-8")
    return html.replace("{{payments}}", "stripe" if payments == "stripe" else "local")


def add_page_routes(app: FastAPI) -> None:
    @app.get(PAGE, include_in_schema=False)
    async def page(code: str, request: Request):
        provider = request.app.state.backend.payments.name
        return HTMLResponse(page_html(provider), headers={
            "Content-Security-Policy": _CSP_STRIPE if provider == "stripe" else _CSP_LOCAL,
            # the session token lives in the page's sessionStorage, never in a URL; still, send
            # no referrer to Stripe or anyone else
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        })

    @app.get(ASSETS, include_in_schema=False)
    async def asset(name: str):
        if name not in _TYPES:
            return JSONResponse({"message": "Not Found."}, status_code=404)
        body = (PAGE_DIR / name).read_bytes()
        return Response(body, media_type=_TYPES[name], headers={
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
