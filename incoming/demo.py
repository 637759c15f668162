"""The demo web app (``--demo``): a stand-in for a real web application.

It plays both parts a real app plays: its "backend" asks for tickets through
the public backend API over HTTP and receives the handover callbacks, exactly
as any web app would; its page (``static/demo/``) uploads with
``incoming.js``. Files it receives stay in the storage directory (it asks with
``removeFileWhenFinished=false``), so that a visitor can find them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import treq
from twisted.internet.defer import inlineCallbacks, maybeDeferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.static import File

from incoming.frontend import STATIC_DIR
from incoming.handover import HTTPClient

DEMO_DIR = os.path.join(STATIC_DIR, "demo")
API_PREFIX = "/incoming/0.1/backend"
KEEP_ARRIVED = 100


def own_base_url(request: Request) -> str:
    """How this process reaches itself: the address the request came in on."""
    host = request.getHost()
    scheme = "https" if request.isSecure() else "http"
    address = f"[{host.host}]" if ":" in host.host else host.host
    return f"{scheme}://{address}:{host.port}"


class DemoApp(Resource):
    """``/demo/``: the page, its static files and its small API."""

    log = Logger()

    def __init__(self, http: HTTPClient, backend_url: Callable[[Request], str] | None = None,
                 api_key: str = "") -> None:
        """``backend_url``: where the backend API is, seen from this process (default: the
        address the page came in on); ``api_key``: sent with every call, where keys are set."""
        super().__init__()
        self._http = http
        self._backend_url = backend_url or own_base_url
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._secret = secrets.token_urlsafe(16)
        self.arrived: deque[dict[str, Any]] = deque(maxlen=KEEP_ARRIVED)
        self.putChild(b"", index_page())
        self.putChild(b"static", File(DEMO_DIR))
        api = Resource()
        api.putChild(b"new_ticket", _Action(self.new_ticket, b"POST"))
        api.putChild(b"arrived", _Action(self.list_arrived, b"GET"))
        api.putChild(b"handover", _Action(self.handover, b"POST"))
        self.putChild(b"api", api)

    @inlineCallbacks
    def new_ticket(self, request: Request) -> Any:
        response = yield self._http.post(f"{self._backend_url(request)}{API_PREFIX}/new_upload",
                                         headers=self._headers, data={
            "signalFinishURL": f"{own_base_url(request)}/demo/api/handover",
            "backendSecret": self._secret,
            "removeFileWhenFinished": "false",
        })
        body = yield treq.text_content(response)
        if response.code != 200:
            raise RuntimeError(f"new_upload answered {response.code}: {body.strip()}")
        return {"ticket": body}

    def list_arrived(self, request: Request) -> dict[str, Any]:
        return {"files": list(self.arrived)}

    def handover(self, request: Request) -> str:
        form = {k.decode(): v[0].decode() for k, v in (request.args or {}).items()}
        if not secrets.compare_digest(form.get("backendSecret", ""), self._secret):
            request.setResponseCode(403)
            return "wrong secret"
        if form.get("cancelled") == "no":
            self.arrived.appendleft({
                "id": form["id"], "filename": form["filenameFromBrowser"],
                "size": int(form["size"]), "sha256": form["sha256"], "path": form["filename"],
                "arrivedAt": datetime.now(UTC).isoformat(timespec="seconds"),
            })
        return "done"


def index_page() -> File:
    return File(os.path.join(DEMO_DIR, "index.html"), defaultType="text/html; charset=utf-8")


class _Action(Resource):
    """One demo API call; answers JSON (or plain text for the handover callback)."""

    isLeaf = True
    log = Logger()

    def __init__(self, action: Any, method: bytes) -> None:
        super().__init__()
        self._action = action
        self._method = method

    def render(self, request: Request) -> Any:
        if request.method != self._method:
            request.setResponseCode(405)
            return b"method not allowed\n"
        done = maybeDeferred(self._action, request)
        done.addCallbacks(lambda result: self._reply(request, result),
                          lambda failure: self._oops(request, failure))
        return NOT_DONE_YET

    def _reply(self, request: Request, result: Any) -> None:
        if isinstance(result, str):
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            body = result.encode()
        else:
            request.setHeader(b"Content-Type", b"application/json")
            body = json.dumps(result).encode()
        request.write(body)
        request.finish()

    def _oops(self, request: Request, failure: Any) -> None:
        self.log.failure("demo call failed", failure)
        request.setResponseCode(502)
        self._reply(request, {"error": str(failure.value)})
