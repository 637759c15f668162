"""The ticket lifecycle rules."""

from __future__ import annotations

import pytest

from incoming.errors import ErrorCode, IncomingError
from incoming.tickets import State, Ticket, advance, new_ticket_id


def at(state):
    return Ticket(id="T", signal_finish_url="http://b.test/", state=state)


@pytest.mark.parametrize("start, end", [
    (State.CREATED, State.UPLOADING), (State.UPLOADING, State.PAUSED),
    (State.PAUSED, State.UPLOADING), (State.UPLOADING, State.STORED),
    (State.STORED, State.HANDING_OVER), (State.HANDING_OVER, State.WAITING_FOR_BACKEND),
    (State.HANDING_OVER, State.FINISHED), (State.WAITING_FOR_BACKEND, State.FINISHED),
    (State.PAUSED, State.CANCELLED), (State.CREATED, State.EXPIRED),
    (State.HANDING_OVER, State.FAILED),
])
def test_allowed_moves(start, end):
    """Each move of the documented lifecycle is allowed and stamps the time."""
    moved = advance(at(start), end, now=42.0)
    assert (moved.state, moved.updated_at) == (end, 42.0)


@pytest.mark.parametrize("start, end, code", [
    (State.STORED, State.CANCELLED, ErrorCode.WRONG_STATE),
    (State.CREATED, State.FINISHED, ErrorCode.WRONG_STATE),
    (State.WAITING_FOR_BACKEND, State.UPLOADING, ErrorCode.WRONG_STATE),
    (State.FINISHED, State.UPLOADING, ErrorCode.TICKET_CLOSED),
    (State.CANCELLED, State.CANCELLED, ErrorCode.TICKET_CLOSED),
    (State.FAILED, State.HANDING_OVER, ErrorCode.TICKET_CLOSED),
])
def test_refused_moves(start, end, code):
    """A move outside the lifecycle raises wrong_state, or ticket_closed from a terminal state."""
    with pytest.raises(IncomingError) as caught:
        advance(at(start), end, now=1.0)
    assert caught.value.code is code


def test_ticket_ids_are_long_random_and_url_safe():
    """IDs carry at least 128 random bits in URL-safe characters and do not repeat."""
    ids = {new_ticket_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) * 6 >= 128 and i.replace("-", "").replace("_", "").isalnum() for i in ids)
