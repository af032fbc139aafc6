"""Interop tests: python-socketio's sync client against the Rust interop_server.

Every scenario runs for three transport setups: websocket only, polling only,
and the default (polling first, then upgrade to websocket).

Client specifics worth knowing when reading these tests:
- python-socketio always sends an auth object in CONNECT (`{}` when none).
- Incoming Engine.IO messages are each handled in their own thread, so the
  order in which *handlers run* is not guaranteed for back-to-back messages;
  tests wait for each reply before sending the next unless they say otherwise.
- python-engineio treats an Engine.IO CLOSE packet from the server as a
  deliberate "server disconnect" (no automatic reconnection), while a dropped
  connection is a "transport error" (automatic reconnection).
"""

import collections
import threading
import time

import pytest
import socketio

WAIT_S = 3.0
SERVER_ACK_TIMEOUT_S = 2.0  # the server's emit_with_ack timeout for `question`

SETUPS = {
    "websocket-only": {"transports": ["websocket"], "expect": "websocket"},
    "polling-only": {"transports": ["polling"], "expect": "polling"},
    "default": {"transports": None, "expect": "websocket"},
}

JSON_ARGS = [
    0,
    -1,
    42,
    3.14159,
    1e-7,
    1.5e300,
    2**53 - 1,
    -(2**53 - 1),
    "",
    "plain ascii",
    "unicode: héllo wörld, ñ, ß, Ελληνικά, русский, 日本語, 한국어, עברית, العربية",
    "emoji: 😀🎉👍🏽👨‍👩‍👧‍👦🏳️‍🌈 and astral 𝄞",
    'escapes: "quoted" \\ back\\slash / slash\ttab\nnewline\r\u0001\u001e\u007f\u2028\u2029',
    True,
    False,
    None,
    [],
    {},
    [1, "two", [3, [4, [5]]], {"six": 6}, None],
    {
        "nested": {"deeper": {"deepest": [1, {"x": None, "y": "ÿ", "z": [True, False]}]}},
        "key with spaces": 1,
        "ключ": "значение",
        "🔑": "🗝️",
    },
]


class Inbox:
    """Thread-safe record of the events of one namespace, with bounded waits."""

    def __init__(self, label):
        self.label = label
        self.cond = threading.Condition()
        self.queues = collections.defaultdict(collections.deque)
        self.seen = []

    def push(self, name, args):
        with self.cond:
            self.seen.append(name)
            self.queues[name].append(tuple(args))
            self.cond.notify_all()

    def next(self, name, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.queues[name]:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.label}: no {name!r} event within {timeout} s; events seen so far: {self.seen}"
                    )
                self.cond.wait(left)
            return self.queues[name].popleft()

    def take_all(self, name, count, timeout=WAIT_S):
        return [self.next(name, timeout) for _ in range(count)]

    def pending(self, name):
        with self.cond:
            return len(self.queues[name])

    def none(self, name, wait):
        time.sleep(wait)
        with self.cond:
            assert not self.queues[name], f"{self.label}: unexpected {name!r} event(s): {list(self.queues[name])}"


class Harness:
    """Creates clients for one transport setup and cleans them up."""

    def __init__(self, url, setup_name, serializer="default"):
        self.url = url
        self.serializer = serializer
        self.name = setup_name
        self.setup = SETUPS[setup_name]
        self.clients = []

    def client(self):
        sio = socketio.Client(
            reconnection=True,
            reconnection_attempts=20,
            reconnection_delay=0.1,
            reconnection_delay_max=0.2,
            randomization_factor=0,
            request_timeout=5,
            handle_sigint=False,
            serializer=self.serializer,
        )
        sio.inboxes = {}
        self.clients.append(sio)
        return sio

    def attach(self, sio, namespace):
        inbox = Inbox(f"{self.name} {namespace}")
        sio.inboxes[namespace] = inbox

        def on_any(event, *args):
            inbox.push(event, args)

        def on_connect():
            inbox.push("connect", ())

        def on_disconnect(reason):
            inbox.push("disconnect", (reason,))

        def on_connect_error(*data):
            inbox.push("connect_error", data)

        sio.on("*", on_any, namespace=namespace)
        sio.on("connect", on_connect, namespace=namespace)
        sio.on("disconnect", on_disconnect, namespace=namespace)
        sio.on("connect_error", on_connect_error, namespace=namespace)
        return inbox

    def prepare(self, namespaces=("/",)):
        sio = self.client()
        for ns in namespaces:
            self.attach(sio, ns)
        return sio

    def open(self, sio, auth=None):
        sio.connect(
            self.url,
            auth=auth,
            transports=self.setup["transports"],
            namespaces=list(sio.inboxes),
            wait_timeout=5,
        )
        for inbox in sio.inboxes.values():
            inbox.next("connect")

    def connect(self, namespaces=("/",), auth=None):
        """Connects, checks the transport, and returns (client, {namespace: welcome})."""
        sio = self.prepare(namespaces)
        self.open(sio, auth)
        welcomes = {ns: self.welcome(sio, ns) for ns in namespaces}
        self.check_transport(sio)
        return sio, welcomes

    def welcome(self, sio, namespace):
        args = sio.inboxes[namespace].next("welcome")
        assert len(args) == 1, f"welcome carries exactly one argument, got {args!r}"
        return args[0]

    def check_transport(self, sio):
        if self.setup["transports"] is None:
            # python-engineio opens with polling and upgrades inside connect()
            # when the polling handshake offers it.
            assert sio.eio.upgrades == ["websocket"], "the polling handshake offers the websocket upgrade"
        assert sio.transport() == self.setup["expect"], "transport in use"

    def close(self):
        # A graceful disconnect sends the namespace DISCONNECT packets and the
        # Engine.IO CLOSE at once, but then blocks until the transport is fully
        # gone (the long-poll GET returns, or the server closes the TCP
        # connection after the WebSocket close handshake). Run them in
        # parallel, give them a moment, then abort whatever is left.
        def graceful(sio):
            try:
                if sio.connected:
                    sio.disconnect()
                else:
                    sio.shutdown()  # stops a reconnection loop, if any
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass

        threads = [threading.Thread(target=graceful, args=(sio,), daemon=True) for sio in self.clients]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 0.3
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for sio in self.clients:
            try:
                sio.eio.disconnect(abort=True)
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass
        self.clients = []


@pytest.fixture(params=list(SETUPS))
def h(request, server_url):
    harness = Harness(server_url, request.param)
    yield harness
    harness.close()


def emit_ack(sio, event, args, namespace="/", timeout=WAIT_S):
    """Emits with an ack callback and returns the ack's exact argument list."""
    done = threading.Event()
    box = []

    def callback(*ack_args):
        box.append(list(ack_args))
        done.set()

    sio.emit(event, tuple(args), namespace=namespace, callback=callback)
    assert done.wait(timeout), f"no ack for {event!r} within {timeout} s"
    return box[0]


def echo(sio, args, namespace="/"):
    sio.emit("echo", tuple(args), namespace=namespace)
    back = list(sio.inboxes[namespace].next("echo-back"))
    assert back == list(args), "echo-back carries exactly the echoed arguments"
    return back


# --------------------------------------------------------------------------- connect


def test_connect_with_auth(h):
    auth = {"token": "abc", "user": {"name": "zoë 🦊", "roles": ["a", "b"]}, "n": 42, "ok": True, "none": None}
    sio, welcomes = h.connect(auth=auth)
    sid = sio.get_sid("/")
    assert isinstance(sid, str) and sid
    assert welcomes["/"] == {"id": sid, "nsp": "/", "auth": auth, "recovered": False}


def test_connect_without_auth(h):
    sio, welcomes = h.connect()
    assert welcomes["/"] == {"id": sio.get_sid("/"), "nsp": "/", "auth": {}, "recovered": False}


def test_two_clients_get_distinct_ids(h):
    a, _ = h.connect()
    b, _ = h.connect()
    assert a.get_sid("/") != b.get_sid("/")
    assert a.eio.sid != b.eio.sid


# --------------------------------------------------------------------------- events


def test_events_with_many_json_arguments(h):
    sio, _ = h.connect()
    echo(sio, JSON_ARGS)
    echo(sio, [])
    echo(sio, [None])
    echo(sio, ["single"])
    echo(sio, [{"only": "object"}])
    echo(sio, [[1, 2, 3]])
    for value in JSON_ARGS:
        echo(sio, [value])


def test_burst_of_events_all_arrive(h):
    sio, _ = h.connect()
    # python-engineio refuses polling payloads of more than 16 packets
    # (Payload.max_decode_packets), and a server may batch a burst's replies
    # into one response, so the burst stays below that.
    n = 12
    for i in range(n):
        sio.emit("echo", (i, f"msg {i} 🚀"))
    got = sorted(sio.inboxes["/"].take_all("echo-back", n), key=lambda args: args[0])
    # python-socketio runs each incoming message's handler in its own thread,
    # so only completeness (not handler order) is asserted here.
    assert got == [(i, f"msg {i} 🚀") for i in range(n)]


def test_large_payloads(h):
    sio, _ = h.connect()
    # Kept well below the usual 1 MB max payload: python's json escapes the
    # emoji (12 bytes each) and polling sends binary as base64.
    big = "x😀y" * 10_000
    blob = bytes((i * 31 + 7) & 0xFF for i in range(64 * 1024))
    echo(sio, [big, {"blob": blob}])


# --------------------------------------------------------------------------- acks


def test_ack_me_acks_with_same_arguments(h):
    sio, _ = h.connect()
    assert emit_ack(sio, "ack-me", JSON_ARGS) == JSON_ARGS
    assert emit_ack(sio, "ack-me", []) == []
    assert emit_ack(sio, "ack-me", ["one"]) == ["one"]
    binary = [b"\x01\x02\x03", {"nested": ["ünï".encode()]}, "text"]
    assert emit_ack(sio, "ack-me", binary) == binary
    # the blocking call() API
    assert sio.call("ack-me", "single", timeout=WAIT_S) == "single"
    assert sio.call("ack-me", ("a", 1, None), timeout=WAIT_S) == ("a", 1, None)
    assert sio.call("ack-me", b"\x00bytes", timeout=WAIT_S) == b"\x00bytes"
    # several acks in flight at once are matched by id
    results = {}
    done = threading.Event()
    lock = threading.Lock()

    def make_cb(i):
        def cb(*args):
            with lock:
                results[i] = list(args)
                if len(results) == 10:
                    done.set()

        return cb

    for i in range(10):
        sio.emit("ack-me", (i, f"n{i}"), callback=make_cb(i))
    assert done.wait(WAIT_S), f"only {len(results)} of 10 acks arrived"
    assert results == {i: [i, f"n{i}"] for i in range(10)}


def test_ask_question_answer(h):
    sio = h.prepare()
    inbox = sio.inboxes["/"]

    def on_question(*args):
        inbox.push("question", args)
        return ("reply", *args, {"n": 1, "emoji": "✅"}, None)

    sio.on("question", on_question)
    h.open(sio)
    h.welcome(sio, "/")

    x = {"q": "how are you?", "list": [1, 2, 3], "u": "ünï😀"}
    sio.emit("ask", x)
    assert inbox.next("question") == (x,)
    assert list(inbox.next("answer")) == ["reply", x, {"n": 1, "emoji": "✅"}, None]

    bx = {"bytes": b"\x00\xff\x80"}
    sio.emit("ask", bx)
    assert inbox.next("question") == (bx,)
    assert list(inbox.next("answer")) == ["reply", bx, {"n": 1, "emoji": "✅"}, None]
    assert inbox.pending("answer-error") == 0


def test_ask_without_ack_times_out(h):
    sio = h.prepare()
    inbox = sio.inboxes["/"]
    answered_late = threading.Event()

    def on_question(*args):
        # python-socketio acks as soon as a handler returns, so "never acking
        # in time" means blocking until the server has given up.
        inbox.push("question", args)
        answered_late.wait(SERVER_ACK_TIMEOUT_S + 3)
        return "too late"

    sio.on("question", on_question)
    h.open(sio)
    h.welcome(sio, "/")

    started = time.monotonic()
    sio.emit("ask", "no answer")
    assert inbox.next("question") == ("no answer",)
    err = inbox.next("answer-error", SERVER_ACK_TIMEOUT_S + 2)
    elapsed = time.monotonic() - started
    answered_late.set()  # the handler now returns: a late ack reaches the server
    assert len(err) == 1 and isinstance(err[0], str), f"answer-error carries one string, got {err!r}"
    assert elapsed >= SERVER_ACK_TIMEOUT_S - 0.2, f"answer-error after {elapsed:.2f} s, before the timeout"
    inbox.none("answer", 0.3)
    assert sio.connected, "a late ack does not break the connection"
    echo(sio, ["still alive"])


# --------------------------------------------------------------------------- binary


def test_binary_both_ways(h):
    sio, _ = h.connect()
    back = echo(sio, ["top-level binary ✓".encode()])
    assert isinstance(back[0], bytes)

    several = [b"\x01", "between", b"\x02\x02", 7, b"\x03\x03\x03"]
    back = echo(sio, several)
    assert all(isinstance(back[i], bytes) for i in (0, 2, 4))

    nested = [
        {"file": {"name": "a.bin", "data": b"\xde\xad\xbe\xef"}, "tags": ["x"]},
        [b"\x09", [b"\x0a\x0b", {"deep": b"\x0c"}]],
    ]
    back = echo(sio, nested)
    assert isinstance(back[0]["file"]["data"], bytes)

    back = echo(sio, [b"", {"empty": b""}])
    assert back[0] == b"" and isinstance(back[0], bytes)

    everything = bytes(range(256))
    echo(sio, [everything, bytearray(b"\x05\x06"), {"mixed": [1, "a", None, everything]}])

    # a JSON object that merely looks like a placeholder must stay JSON
    echo(sio, [{"_placeholder": False, "num": 0}, b"\x01"])


# --------------------------------------------------------------------------- namespaces


def test_two_namespaces_on_one_connection(h):
    sio, welcomes = h.connect(namespaces=("/", "/admin"), auth={"token": "secret"})
    root, admin = sio.inboxes["/"], sio.inboxes["/admin"]
    # python-socketio sends the same auth to every namespace
    assert welcomes["/"] == {"id": sio.get_sid("/"), "nsp": "/", "auth": {"token": "secret"}, "recovered": False}
    assert welcomes["/admin"] == {"id": sio.get_sid("/admin"), "nsp": "/admin", "auth": {"token": "secret"}, "recovered": False}
    assert sio.get_sid("/") != sio.get_sid("/admin"), "each namespace gets its own socket id"
    engine_sid = sio.eio.sid

    sio.emit("echo", ("for root", 1))
    sio.emit("echo", ("for admin", b"\x02"), namespace="/admin")
    assert list(root.next("echo-back")) == ["for root", 1]
    assert list(admin.next("echo-back")) == ["for admin", b"\x02"]
    assert emit_ack(sio, "ack-me", ["admin ack"], namespace="/admin") == ["admin ack"]
    assert emit_ack(sio, "ack-me", ["root ack"]) == ["root ack"]
    root.none("echo-back", 0.2)
    admin.none("echo-back", 0.2)

    # server-side disconnect of /admin leaves / (and the Engine.IO connection) alone
    sio.emit("disconnect-me", namespace="/admin")
    assert admin.next("disconnect") == ("server disconnect",)
    echo(sio, ["root still works"])
    assert sio.connected
    assert sio.eio.sid == engine_sid, "the Engine.IO session survived"
    admin.none("connect", 0.3)


def refused(h, namespace, auth):
    """Connects to `namespace` expecting a CONNECT_ERROR; returns the connect_error handler's arguments."""
    sio = h.prepare(namespaces=(namespace,))
    inbox = sio.inboxes[namespace]
    # wait=False: with wait=True a refused namespace makes connect() call a
    # graceful disconnect that, over polling, can block until the server's
    # next ping while it waits for the pending long-poll GET to return.
    sio.connect(h.url, auth=auth, transports=h.setup["transports"], namespaces=[namespace], wait=False)
    data = inbox.next("connect_error")
    assert inbox.pending("connect") == 0, f"{namespace} was connected despite the error"
    inbox.none("welcome", 0.2)
    return data


def test_admin_refuses_wrong_token(h):
    data = refused(h, "/admin", {"token": "wrong"})
    assert data == ({"message": "unauthorized", "data": {"reason": "bad token"}},)


def test_admin_refuses_missing_auth(h):
    data = refused(h, "/admin", None)
    assert data == ({"message": "unauthorized", "data": {"reason": "bad token"}},)


def test_unknown_namespace_refused(h):
    (data,) = refused(h, "/does-not-exist", None)
    assert data["message"] == "Invalid namespace"


# --------------------------------------------------------------------------- disconnects


def test_disconnect_me(h):
    sio, _ = h.connect()
    inbox = sio.inboxes["/"]
    sio.emit("disconnect-me")
    assert inbox.next("disconnect") == ("server disconnect",)
    inbox.none("connect", 1.0)
    assert not sio.connected


def test_drop_transport_reconnects(h):
    auth = {"token": "keep-me"}
    sio, welcomes = h.connect(auth=auth)
    inbox = sio.inboxes["/"]
    first_sid = sio.get_sid("/")
    sio.emit("drop-transport")
    (reason,) = inbox.next("disconnect")

    if reason == "server disconnect" and h.setup["expect"] == "polling":
        # The server closed the polling session with an Engine.IO CLOSE packet
        # (what the reference Node server does); python-engineio treats that as
        # final and does not reconnect by itself, so reconnect explicitly.
        inbox.none("connect", 0.5)
        h.open(sio, auth)
    else:
        assert reason == "transport error", (
            f"expected the dropped connection to look like a transport error (which makes "
            f"python-socketio reconnect), got {reason!r}"
        )
        inbox.next("connect", 5.0)

    again = h.welcome(sio, "/")
    assert again == {"id": sio.get_sid("/"), "nsp": "/", "auth": auth, "recovered": False}
    assert again["id"] != welcomes["/"]["id"] and again["id"] != first_sid, "a new socket id after reconnecting"
    h.check_transport(sio)
    echo(sio, ["after reconnect", {"ok": True}, b"\x2a"])
    assert emit_ack(sio, "ack-me", [1, 2]) == [1, 2]
