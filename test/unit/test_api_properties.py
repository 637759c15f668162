"""Property tests for the backend API's parameters: any input gets an answer, never a 500."""

from __future__ import annotations

import tempfile

import treq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from treq.testing import StubTreq
from twisted.web.resource import Resource

from incoming.backend_api import BackendAPI
from incoming.callback_policy import CallbackPolicy
from test.support.harness import Server

API = "http://incoming.test/backend"
NAMES = ["signalFinishURL", "backendSecret", "removeFileWhenFinished", "destType", "maxSize",
         "id", "other"]
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["http://app.test/cb", "https://10.0.0.1/x", "ftp://x/", "http://u@h/",
                     "true", "false", "0", "-1", "99999999999999999999", "file"]),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)
PARAMS = st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=6)
CALLS = st.sampled_from([("POST", "new_upload"), ("POST", "cancel_upload"),
                         ("POST", "finish_upload"), ("GET", "upload_status"),
                         ("PUT", "new_upload")])


def _http(policy: CallbackPolicy) -> tuple[StubTreq, Server]:
    server = Server(tempfile.mkdtemp(prefix="api-properties-"))
    root = Resource()
    root.putChild(b"backend", BackendAPI(server.office, policy))
    return StubTreq(root), server


OPEN, _ = _http(CallbackPolicy.parse(()))
FENCED, _ = _http(CallbackPolicy.parse(("https://app.test/hooks/",)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=CALLS, params=PARAMS, fenced=st.booleans(), json_wanted=st.booleans())
def test_any_parameters_get_a_clear_answer(call, params, fenced, json_wanted):
    """Whatever the parameters, a call answers 200 or a 4xx with a message; never a 500."""
    method, name = call
    http = FENCED if fenced else OPEN
    headers = {"Accept": "application/json"} if json_wanted else {}
    encoded = [(key, value.encode("utf-8", "surrogatepass")) for key, value in params]
    kwargs = {"data": encoded} if method in ("POST", "PUT") else {"params": encoded}
    d = http.request(method, f"{API}/{name}", headers=headers, **kwargs)
    http.flush()
    response = d.result
    body = treq.text_content(response).result
    assert response.code == 200 or 400 <= response.code < 500, (response.code, body)
    if response.code != 200:
        assert body.strip() and "\n" not in body.strip()
