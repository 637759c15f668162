"""The fence around Twisted's and Autobahn's internals: probed once, each part on or off."""

from __future__ import annotations

from twisted.logger import capturedLogs, formatEvent

from incoming import internals, unmasking
from incoming.internals import FastPath, probe, report


def test_on_the_pinned_versions_the_whole_fast_path_is_on():
    """With the Twisted and Autobahn this project pins, every part of the fast path checks
    out (a failure here means an upgrade turned it off)."""
    assert probe() == FastPath(socket_reads=True, unmask_in_storage=True)


def test_turned_off_means_the_public_apis_only():
    """fast_receive = false turns both parts off, saying so."""
    path = probe(wanted=False)
    assert not path.socket_reads and not path.unmask_in_storage
    assert path.describe() == "socket reads off, unmasking in storage off (turned off)"


def test_without_autobahns_compiled_masker_both_parts_are_off(monkeypatch):
    """Payloads read straight from the socket stay masked, so without the compiled masker
    neither part can be used; the reason is given."""
    monkeypatch.setattr(unmasking, "XorMaskerNvx", None)
    path = probe()
    assert (path.socket_reads, path.unmask_in_storage) == (False, False)
    assert "compiled masker is missing" in path.describe()


def test_a_masker_whose_internals_changed_is_not_used(monkeypatch):
    """A masker class without the attributes storage calls is found out at start-up."""
    class Renamed:
        def __init__(self, key: bytes) -> None:
            pass

    monkeypatch.setattr(unmasking, "XorMaskerNvx", Renamed)
    path = probe()
    assert not path.unmask_in_storage and "internals changed" in path.describe()


def test_missing_autobahn_parser_internals_turn_socket_reads_off(monkeypatch):
    """If Autobahn's protocol lost what the socket reads call, socket reads are off and
    unmasking in storage stays on."""
    monkeypatch.setattr(internals, "WebSocketServerProtocol", type("Renamed", (), {}))
    path = probe()
    assert (path.socket_reads, path.unmask_in_storage) == (False, True)
    assert "WebSocketServerProtocol.onFrameEnd" in path.describe()


def test_the_start_up_line_names_the_path_and_the_versions():
    """One log line says which receive path carries uploads, on which library versions."""
    with capturedLogs() as events:
        report(FastPath(socket_reads=True, unmask_in_storage=True))
    [line] = [formatEvent(e) for e in events]
    assert line.startswith("receive path: socket reads on, unmasking in storage on (Twisted ")
    assert "autobahn " in line
