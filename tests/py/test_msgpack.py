"""python-socketio's msgpack serializer (`socketio.Client(serializer="msgpack")`) against the
interop server started with PARSER=msgpack, for the three transport setups of test_interop.py.

python-socketio writes each packet as one msgpack map {type, data, nsp[, id]}, the format of
npm's socket.io-msgpack-parser, with bytes as msgpack bin. It always writes the `data` key,
also `data: nil` in a DISCONNECT, which the server reads as a DISCONNECT without data (npm's
checkPacket would refuse it).
"""

import threading

import pytest

from test_interop import JSON_ARGS, SETUPS, WAIT_S, Harness, echo, emit_ack


@pytest.fixture(params=list(SETUPS))
def m(request, msgpack_server_url):
    harness = Harness(msgpack_server_url, request.param, serializer="msgpack")
    yield harness
    harness.close()


def test_connect_with_and_without_auth(m):
    auth = {"token": "abc", "user": {"name": "zoë 🦊", "roles": ["a", "b"]}, "n": 42, "none": None}
    sio, welcomes = m.connect(auth=auth)
    assert welcomes["/"] == {"id": sio.get_sid("/"), "nsp": "/", "auth": auth, "recovered": False}
    sio, welcomes = m.connect()
    assert welcomes["/"]["auth"] == {}


def test_events_with_many_arguments(m):
    sio, _ = m.connect()
    echo(sio, JSON_ARGS)
    echo(sio, [])
    for value in JSON_ARGS:
        echo(sio, [value])


def test_binary_both_ways(m):
    sio, _ = m.connect()
    back = echo(sio, [b"top-level \x00\xff", "between", b"", 7])
    assert isinstance(back[0], bytes) and isinstance(back[2], bytes)
    nested = [
        {"file": {"name": "a.bin", "data": b"\xde\xad\xbe\xef"}, "tags": ["x"]},
        [b"\x09", [b"\x0a\x0b", {"deep": b"\x0c"}]],
    ]
    echo(sio, nested)
    echo(sio, [{"_placeholder": False, "num": 0}, b"\x01"])
    blob = bytes((i * 31 + 7) & 0xFF for i in range(256 * 1024))
    echo(sio, ["x😀y" * 50_000, {"blob": blob}])


def test_acks_both_ways(m):
    sio, _ = m.connect()
    # The server acks the client's event.
    assert emit_ack(sio, "ack-me", JSON_ARGS) == JSON_ARGS
    assert emit_ack(sio, "ack-me", []) == []
    assert emit_ack(sio, "ack-me", [b"\x01\x02", {"nested": [b"\xc3\xbc"]}, "text"]) == [
        b"\x01\x02",
        {"nested": [b"\xc3\xbc"]},
        "text",
    ]
    results = [None] * 10

    def one(i):
        results[i] = emit_ack(sio, "ack-me", [i, f"n{i}"])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S + 1)
    assert results == [[i, f"n{i}"] for i in range(10)]

    # The client acks the server's question.
    def on_question(*args):
        sio.inboxes["/"].push("question", args)
        return ("reply", *args, {"bytes": b"\x00\xff"})

    sio.on("question", on_question)
    sio.emit("ask", ({"q": "how?", "b": b"\x80"},))
    question = sio.inboxes["/"].next("question")
    assert question == ({"q": "how?", "b": b"\x80"},)
    answer = sio.inboxes["/"].next("answer")
    assert answer == ("reply", {"q": "how?", "b": b"\x80"}, {"bytes": b"\x00\xff"})
    assert sio.inboxes["/"].pending("answer-error") == 0


def test_two_namespaces_and_refusals(m):
    sio, welcomes = m.connect(namespaces=("/", "/admin"), auth={"token": "secret"})
    assert welcomes["/admin"]["nsp"] == "/admin"
    assert sio.get_sid("/") != sio.get_sid("/admin")
    echo(sio, ["for admin", b"\x02"], namespace="/admin")
    echo(sio, ["for root", 1])
    assert emit_ack(sio, "ack-me", ["admin ack"], namespace="/admin") == ["admin ack"]

    # A server-side namespace disconnect (a msgpack DISCONNECT) leaves / alone.
    sio.emit("disconnect-me", namespace="/admin")
    assert sio.inboxes["/admin"].next("disconnect")[0] == "server disconnect"
    echo(sio, ["root still works"])

    refused = m.prepare(("/admin",))
    try:
        m.open(refused, auth={"token": "wrong"})
    except Exception:  # noqa: BLE001 - python-socketio raises when every namespace is refused
        pass
    err = refused.inboxes["/admin"].next("connect_error")
    assert err == ({"message": "unauthorized", "data": {"reason": "bad token"}},)


def test_client_disconnect_and_reconnect(m):
    sio, _ = m.connect()
    first = sio.get_sid("/")
    sio.disconnect()
    sio, _ = m.connect()
    assert sio.get_sid("/") != first
    echo(sio, ["after", b"\x2a"])
