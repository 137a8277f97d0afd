"""The simulator behind a secret, when an operator serves it where other machines reach it.

Every simulator request (the page and /api/...) carries the secret: a script in the
`X-Simulator-Secret` header, a browser in a cookie set once by opening `/?key=SECRET` (or the
small form the page shows without it). Webhooks, /healthz and /readyz are not behind it: they
have their own secrets or say nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

log = logging.getLogger(__name__)
HEADER = "x-simulator-secret"
COOKIE = "totruong_sim"

LOGIN_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Tổ trưởng — mô phỏng</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 4rem auto">
<h1>Trang mô phỏng Tổ trưởng</h1>
<p>{message}</p>
<form method="get" action="/"><label>Mã truy cập <input name="key" type="password" autofocus required></label>
<button type="submit">Vào</button></form>
<p style="color:#555">Access code needed: ask the operator of this server.</p>
</body></html>"""
ASK = "Trang này cần mã truy cập do người quản trị máy chủ cung cấp."
WRONG = "Mã truy cập không đúng. Hãy kiểm tra lại với người quản trị."


def is_simulator_path(path: str) -> bool:
    """The page and its API; webhooks and health checks are elsewhere."""
    return path == "/" or path.startswith("/api/")


def protect(web: FastAPI, secret: str) -> None:
    """Puts every simulator request behind the secret."""
    # The cookie holds a digest of the secret, not the secret itself.
    token = hmac.new(secret.encode(), b"totruong simulator session", hashlib.sha256).hexdigest()

    def carries(request: Request) -> bool:
        header = request.headers.get(HEADER, "")
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(header.encode(), secret.encode()) or \
            hmac.compare_digest(cookie.encode(), token.encode())

    @web.middleware("http")
    async def simulator_gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if not is_simulator_path(path) or carries(request):
            return await call_next(request)
        key = request.query_params.get("key")
        if path == "/" and key is not None:
            if hmac.compare_digest(key.encode(), secret.encode()):
                opened = RedirectResponse("/", status_code=303)
                opened.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                                  secure=request.url.scheme == "https")
                return opened
            log.warning("simulator: wrong access code from %s", request.client.host if request.client else "?")
            return HTMLResponse(LOGIN_PAGE.format(message=escape(WRONG)), status_code=401)
        if path == "/":
            return HTMLResponse(LOGIN_PAGE.format(message=escape(ASK)), status_code=401)
        return JSONResponse({"error": "simulator_secret_required",
                             "message": ASK}, status_code=401)
