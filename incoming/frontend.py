"""The ``frontend/`` folder: the browser library and the upload WebSocket.

``incoming.js`` (a classic script defining the global ``incoming``) and
``incoming.mjs`` (the same as an ES module) are built from ``jslib/`` and
shipped inside this package, so a server installed with pip needs no Node.js.
"""

from __future__ import annotations

import os

from autobahn.twisted.resource import WebSocketResource
from twisted.web.resource import Resource
from twisted.web.server import Request
from twisted.web.static import File

from incoming.upload_protocol import UploadFactory
from incoming.web import Folder

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


class _Script(File):
    """A script file that browsers revalidate, so a new server version reaches them at once."""

    def render_GET(self, request: Request) -> bytes | int:  # the body, or NOT_DONE_YET
        request.setHeader(b"Cache-Control", b"no-cache")
        request.setHeader(b"Access-Control-Allow-Origin", b"*")
        return super().render_GET(request)


def script(name: str) -> File:
    return _Script(os.path.join(STATIC_DIR, name), defaultType="text/javascript; charset=utf-8")


def frontend_resource(upload_factory: UploadFactory) -> Resource:
    folder = Folder()
    folder.putChild(b"incoming.js", script("incoming.js"))
    folder.putChild(b"incoming.mjs", script("incoming.mjs"))
    folder.putChild(b"incoming.d.ts", File(os.path.join(STATIC_DIR, "incoming.d.ts"),
                                          defaultType="text/plain; charset=utf-8"))
    folder.putChild(b"upload_ws", WebSocketResource(upload_factory))
    return folder
