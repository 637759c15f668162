"""A simple web app (Flask) whose pages upload through Incoming!!.

Its backend asks Incoming!! for a ticket and renders it into the page; the
page uploads with incoming.js. When the file is stored, Incoming!! calls
``/hooks/incoming``: the app checks the callback's signature, answers
``wait``, takes the file into its own storage in a thread (moving it, or
downloading it from the object store), checks its SHA-256, and then calls
``finish_upload`` with a result the page shows (a link to the file).

Configuration from the environment (``examples/flask/run`` sets it all):
``INCOMING_URL`` (Incoming!!'s backend listener), ``INCOMING_API_KEY``,
``INCOMING_SIGNING_KEY`` (``whsec_…``), ``BACKEND_SECRET``, ``CALLBACK_URL``
(where Incoming!! reaches ``/hooks/incoming``), ``MEDIA_DIR``, ``PORT``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request, send_file
from standardwebhooks import Webhook, WebhookVerificationError

INCOMING_API = os.environ["INCOMING_URL"].rstrip("/") + "/incoming/0.1/backend"
API_KEY = os.environ["INCOMING_API_KEY"]
WEBHOOK = Webhook(os.environ["INCOMING_SIGNING_KEY"])
BACKEND_SECRET = os.environ["BACKEND_SECRET"]
CALLBACK_URL = os.environ["CALLBACK_URL"]
MEDIA = Path(os.environ["MEDIA_DIR"])
TICKET = re.compile(r"[A-Za-z0-9_-]+")

app = Flask(__name__)
log = logging.getLogger("example")
taking: set[str] = set()
"""Tickets whose file a thread is taking now (a repeated callback must not start another)."""
lock = threading.Lock()


# -- the Incoming!! backend API -------------------------------------------------------------------

def incoming(call: str, **form: str) -> dict[str, Any]:
    """One backend API call, with the API key and this app's backendSecret; its JSON answer."""
    request_ = urllib.request.Request(
        f"{INCOMING_API}/{call}", data=urllib.parse.urlencode(form).encode(), method="POST",
        headers={"Authorization": f"Bearer {API_KEY}", "Accept": "application/json",
                 "Incoming-Backend-Secret": BACKEND_SECRET})
    with urllib.request.urlopen(request_, timeout=30) as answer:
        return dict(json.load(answer))


# -- pages ----------------------------------------------------------------------------------------

@app.get("/")
def upload_page() -> str:
    """A fresh ticket for each page: the ticket is the right to upload one file."""
    ticket = incoming("new_upload", signalFinishURL=CALLBACK_URL)["id"]
    return render_template("index.html", ticket=ticket, files=stored_files())


@app.get("/files/<ticket>")
def stored_file(ticket: str) -> Response:
    record = record_of(ticket)
    if record is None:
        abort(404)
    return send_file(MEDIA / ticket, as_attachment=True, download_name=record["name"])


@app.get("/api/files")
def files_as_json() -> Response:
    return jsonify(stored_files())


@app.get("/api/status/<ticket>")
def upload_status(ticket: str) -> Response:
    """What Incoming!! knows of a ticket (upload_status, through the backend listener)."""
    return jsonify(incoming("upload_status", id=ticket))


# -- the callback ---------------------------------------------------------------------------------

@app.post("/hooks/incoming")
def file_arrived() -> tuple[Any, int]:
    raw = request.get_data()
    try:  # the raw body, before anything trusts it
        WEBHOOK.verify(raw, {k.lower(): v for k, v in request.headers.items()},
                       json_parse=False)
    except WebhookVerificationError:
        return "not signed by Incoming!!", 401
    form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode(), True).items()}
    if not hmac.compare_digest(form.get("backendSecret", ""), BACKEND_SECRET):
        return "wrong backendSecret", 403
    ticket = form["id"]
    if form["cancelled"] == "yes":
        log.info("upload %s… cancelled: %s", ticket[:8], form["cancelReason"])
        return "done", 200
    record = record_of(ticket)
    if record is not None:  # a repeated callback (Incoming!! restarted): we have the file
        return jsonify(state="done", result=record), 200
    with lock:
        if ticket not in taking:
            taking.add(ticket)
            threading.Thread(target=take_file, args=(form,), daemon=True).start()
    return jsonify(state="wait"), 200


def take_file(form: dict[str, str]) -> None:
    """Move the file into MEDIA, check it, and tell Incoming!! we are done (finish_upload)."""
    ticket = form["id"]
    try:
        arriving = MEDIA / f".{ticket}.arriving"
        if form.get("bucket"):
            download(form["bucket"], form["key"], arriving)
        else:
            shutil.move(form["filename"], arriving)  # a rename within one file system
        digest = sha256_of(arriving)
        if digest != form["sha256"]:
            raise ValueError(f"SHA-256 {digest} is not the callback's {form['sha256']}")
        record = {"ticket": ticket, "name": form["filenameFromBrowser"],
                  "size": int(form["size"]), "sha256": digest, "url": f"/files/{ticket}"}
        os.replace(arriving, MEDIA / ticket)
        (MEDIA / f"{ticket}.json").write_text(json.dumps(record))
        incoming("finish_upload", id=ticket, result=json.dumps(record))
        log.info("upload %s… taken: %s, %d bytes", ticket[:8], record["name"], record["size"])
    except Exception:
        log.exception("could not take the file of %s…", ticket[:8])
    finally:
        with lock:
            taking.discard(ticket)


def download(bucket: str, key: str, to: Path) -> None:
    """The S3 storage's callback names an object (filename s3://BUCKET/KEY). boto3 finds the
    endpoint and credentials as every AWS tool does (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …)."""
    import boto3  # only needed with S3 storage: pip install boto3

    boto3.client("s3").download_file(bucket, key, str(to))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def record_of(ticket: str) -> dict[str, Any] | None:
    if not TICKET.fullmatch(ticket):
        return None  # a ticket ID is URL-safe base64: nothing else names a file here
    path = MEDIA / f"{ticket}.json"
    return dict(json.loads(path.read_text())) if path.exists() else None


def stored_files() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(MEDIA.glob("*.json"))]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Flask's own server, threaded: enough for an example; use gunicorn or uwsgi in production.
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
