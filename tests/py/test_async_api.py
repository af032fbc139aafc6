"""The async server API (issue 15) with python-socketio's sync client: the interop server's
`/async` namespace (async middlewares, async handlers, app state, packet middleware) and its
dynamic `/tenant/{id}` and `/dyn-*` namespaces, over the three transport setups.

python-socketio runs each incoming event's handler in a thread of its own, so the order of
events is checked on the server's side (`seq-order`), not by the client's handlers.
"""

import pytest
import socketio

from test_interop import SETUPS, Harness

SECRET = {"token": "secret"}


@pytest.fixture(params=list(SETUPS))
def harness(request, server_url):
    h = Harness(server_url, request.param)
    yield h
    h.close()


def test_async_middlewares_run_in_order_then_the_async_connect_handler(harness):
    sio, welcomes = harness.connect(("/async",), auth={**SECRET, "delay": 50})
    assert welcomes["/async"]["chain"] == ["sync", "async"]
    assert welcomes["/async"]["id"] == sio.get_sid("/async")
    harness_inbox = sio.inboxes["/async"]
    harness_inbox.none("too-early", 0.1)
    harness_inbox.none("too-early-bcast", 0)


def test_an_async_middleware_refuses_with_message_and_data(harness):
    sio = harness.prepare(("/async",))
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(
            harness.url,
            auth={"token": "wrong"},
            transports=harness.setup["transports"],
            namespaces=["/async"],
            wait_timeout=5,
        )
    (data,) = sio.inboxes["/async"].next("connect_error")
    assert data == {"message": "unauthorized", "data": {"reason": "bad token"}}


def test_events_are_handled_in_arrival_order_around_awaits(harness):
    sio, _ = harness.connect(("/async",), auth=SECRET)
    sio.emit("seq", (1, 120), namespace="/async")
    sio.emit("seq-sync", 2, namespace="/async")
    sio.emit("seq", (3, 0), namespace="/async")
    sio.emit("seq", (4, 40), namespace="/async")
    sio.emit("seq-sync", 5, namespace="/async")
    for _ in range(5):
        sio.inboxes["/async"].next("seq-done")
    assert sio.call("seq-order", namespace="/async", timeout=5) == [1, 2, 3, 4, 5]


def test_an_ack_answered_after_an_await(harness):
    sio, _ = harness.connect(("/async",), auth=SECRET)
    value = {"deep": [1, "two", None]}
    assert sio.call("slow-ack", value, namespace="/async", timeout=5) == value
    assert sio.call("emit-then-ack", namespace="/async", timeout=5) == "third"
    sio.inboxes["/async"].next("first")
    sio.inboxes["/async"].next("second")


def test_panicking_and_failing_handlers_end_only_their_event(harness):
    sio, _ = harness.connect(("/async",), auth=SECRET)
    for event in ("panic", "async-panic", "fail"):
        sio.emit(event, namespace="/async")
        sio.emit("ping", namespace="/async")
        assert sio.inboxes["/async"].next("pong") == (1,), f"pong after {event}"
    assert sio.connected


def test_app_state_is_shared(harness):
    a, _ = harness.connect(("/async",), auth=SECRET)
    b, _ = harness.connect(("/async",), auth=SECRET)
    first = a.call("visit", namespace="/async", timeout=5)
    second = b.call("visit", namespace="/async", timeout=5)
    assert second == first + 1


def test_a_packet_middleware_drops_an_event(harness):
    sio, _ = harness.connect(("/async",), auth=SECRET)
    sio.emit("forbidden", namespace="/async")
    assert sio.inboxes["/async"].next("refused") == ("forbidden event",)
    sio.inboxes["/async"].none("forbidden-ran", 0.1)


def test_dynamic_namespaces(harness):
    sio, welcomes = harness.connect(("/tenant/py", "/dyn-py"), auth={"ok": True})
    assert welcomes["/tenant/py"] == {"nsp": "/tenant/py", "id": "py"}
    assert welcomes["/dyn-py"] == {"nsp": "/dyn-py"}
    sio.emit("tenant-bcast", "hello", namespace="/tenant/py")
    assert sio.inboxes["/tenant/py"].next("tenant-msg") == ("hello",)


def test_names_no_pattern_takes_are_invalid(harness):
    sio = harness.prepare(("/tenant/a/b",))
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(
            harness.url,
            transports=harness.setup["transports"],
            namespaces=["/tenant/a/b"],
            wait_timeout=5,
        )
    (data,) = sio.inboxes["/tenant/a/b"].next("connect_error")
    assert data == {"message": "Invalid namespace"}
