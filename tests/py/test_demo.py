"""The demo chat's realtime contract (src/bin/actix-socketio/chat.rs, namespace "/"), driven by
python-socketio's sync client against the demo binary (target/debug/actix-socketio,
or DEMO_SERVER): two clients, one websocket-only and one polling-only.

Each test gets its own demo server (started with `--port 0`; it prints
`LISTENING 127.0.0.1:<port>` on stdout), so online counts start from zero.
After each step the tests wait a short quiet period and fail on any event a
client received that the step did not expect.
"""

import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import socketio

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEMO_SERVER = REPO_ROOT / "target" / "debug" / "actix-socketio"
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 5
WAIT_S = 3.0  # for an expected event or ack
QUIET_S = 0.15  # to assert that nothing (else) arrived
OFFSET = re.compile(r"^[0-9a-f]{8}-[0-9a-f]+$")
GUEST = re.compile(r"^guest-[0-9a-f]{4}$")
LISTENING = re.compile(r"^LISTENING (127\.0\.0\.1:\d+)\s*$")


# ------------------------------------------------------------------ the demo server


@pytest.fixture
def demo_url():
    """Starts the demo server for one test and yields its base URL."""
    path = Path(os.environ.get("DEMO_SERVER") or DEFAULT_DEMO_SERVER)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"demo server not found or not executable: {path} "
            "(build it with `cargo build`, or point DEMO_SERVER at it)",
            pytrace=False,
        )
    log_path = os.path.join(tempfile.mkdtemp(prefix="actix-socketio-demo-py-"), "server.log")
    log = open(log_path, "wb")
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    env["RUST_LOG"] = "warn"
    proc = subprocess.Popen(
        [str(path), "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    lines = queue.Queue()

    def pump():
        # Hands each stdout line over, and keeps the pipe drained afterwards.
        for raw in proc.stdout:
            lines.put(raw.decode("utf-8", "replace"))
        lines.put(None)

    threading.Thread(target=pump, name="demo-server-stdout", daemon=True).start()

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        log.close()

    url = None
    deadline = time.monotonic() + START_TIMEOUT_S
    while url is None:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            stop()
            pytest.fail(f"demo server printed no LISTENING line within {START_TIMEOUT_S} s (log: {log_path})", pytrace=False)
        if line is None:
            code = proc.poll()
            stop()
            pytest.fail(f"demo server exited before listening (code {code}; log: {log_path})", pytrace=False)
        match = LISTENING.match(line)
        if match:
            url = f"http://{match.group(1)}"

    yield url

    died = proc.poll()
    stop()
    if died is not None:
        with open(log_path, "rb") as f:
            tail = f.read()[-3000:].decode("utf-8", "replace")
        pytest.fail(f"demo server died during the test (code {died}; log: {log_path}):\n{tail}", pytrace=False)


# ------------------------------------------------------------------ clients


class ChatClient:
    """A python-socketio client whose incoming events land in an inbox."""

    def __init__(self, label, transport):
        self.label = label
        self.transport_name = transport
        self.sio = socketio.Client(reconnection=False)
        self.lock = threading.Lock()
        self.inbox = {}  # event name -> queue of argument tuples
        self.seen = []
        self.name = None
        self.welcome = None

        def on_any(event, *args):
            # The demo has connection state recovery on: every stored event carries its offset
            # as a last string argument (python-socketio does not recover, and passes it on).
            if len(args) >= 2 and isinstance(args[-1], str) and OFFSET.match(args[-1]):
                args = args[:-1]
            with self.lock:
                self.seen.append(event)
                q = self.inbox.setdefault(event, queue.Queue())
            q.put(args)

        self.sio.on("*", on_any)

    def _queue(self, event):
        with self.lock:
            return self.inbox.setdefault(event, queue.Queue())

    @property
    def id(self):
        return self.sio.get_sid()

    @property
    def user(self):
        return {"id": self.id, "name": self.name}

    def connect(self, url, expected_online):
        self.sio.connect(url, transports=[self.transport_name], wait_timeout=5)
        welcome = self.next("welcome")
        assert sorted(welcome) == ["id", "name", "online"], f"{self.label}: welcome {welcome!r}"
        assert welcome["id"] == self.id, f"{self.label}: welcome.id is the socket id"
        assert GUEST.match(welcome["name"]), f"{self.label}: default name {welcome['name']!r}"
        assert welcome["online"] == expected_online, f"{self.label}: welcome {welcome!r}, expected online {expected_online}"
        assert self.sio.transport() == self.transport_name, f"{self.label}: transport {self.sio.transport()}"
        self.name = welcome["name"]
        self.welcome = welcome
        return welcome

    def next(self, event):
        """The single argument of the next `event`."""
        try:
            args = self._queue(event).get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"{self.label}: no {event!r} within {WAIT_S} s; seen so far: {self.seen}") from None
        assert len(args) == 1, f"{self.label}: {event!r} should carry one argument, got {args!r}"
        return args[0]

    def expect(self, event, expected):
        got = self.next(event)
        assert got == expected, f"{self.label}: {event!r} payload\n  got      {got!r}\n  expected {expected!r}"
        return got

    def ack(self, event, *args):
        """Emits with an ack callback; returns the ack's single argument."""
        done = threading.Event()
        replies = []

        def callback(*reply):
            replies.append(reply)
            done.set()

        data = None if not args else (args[0] if len(args) == 1 else tuple(args))
        self.sio.emit(event, data=data, callback=callback)
        if not done.wait(WAIT_S):
            raise AssertionError(f"{self.label}: no ack for {event}{args!r} within {WAIT_S} s")
        reply = replies[0]
        assert len(reply) == 1, f"{self.label}: {event} ack should carry one argument, got {reply!r}"
        return reply[0]

    def refused(self, event, *args):
        reply = self.ack(event, *args)
        sent = f"{event}{args!r}"
        assert isinstance(reply, dict) and sorted(reply) == ["error", "ok"], f"{self.label}: {sent} -> {reply!r}, expected {{ok: false, error}}"
        assert reply["ok"] is False, f"{self.label}: {sent} -> {reply!r}"
        assert isinstance(reply["error"], str) and reply["error"].strip(), f"{self.label}: {sent} -> {reply!r}: empty error"
        return reply["error"]

    def strays(self):
        """Unconsumed events (and empties the inbox)."""
        out = []
        with self.lock:
            queues = list(self.inbox.items())
        for event, q in queues:
            while True:
                try:
                    out.append(f"{self.label} got {event!r} {q.get_nowait()!r}")
                except queue.Empty:
                    break
        return out

    def close(self):
        if self.sio.connected:
            self.sio.disconnect()


def quiet(*clients):
    time.sleep(QUIET_S)
    strays = [line for c in clients for line in c.strays()]
    assert strays == [], "unexpected events:\n  " + "\n  ".join(strays)


def by_id(members):
    return sorted(members, key=lambda m: m.get("id", "") if isinstance(m, dict) else "")


def by_name(rooms):
    return sorted(rooms, key=lambda r: r.get("name", "") if isinstance(r, dict) else "")


def assert_joined(reply, room, members):
    assert isinstance(reply, dict) and isinstance(reply.get("members"), list), f"join {room!r} -> {reply!r}"
    assert {**reply, "members": by_id(reply["members"])} == {"ok": True, "room": room, "members": by_id(members)}, f"join {room!r} -> {reply!r}"


def assert_rooms(reply, rooms):
    assert isinstance(reply, dict) and isinstance(reply.get("rooms"), list), f"rooms -> {reply!r}"
    assert {**reply, "rooms": by_name(reply["rooms"])} == {"ok": True, "rooms": by_name(rooms)}, f"rooms -> {reply!r}"


def assert_ts(ts, before_ms, after_ms, what):
    assert isinstance(ts, int) and not isinstance(ts, bool), f"{what}: ts should be an integer, got {ts!r}"
    assert before_ms - 2000 <= ts <= after_ms + 2000, f"{what}: ts {ts} not near now ({before_ms}..{after_ms})"


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture
def pair(demo_url):
    """W (websocket) and P (polling), connected in that order; presence checked."""
    w = ChatClient("W(websocket)", "websocket")
    p = ChatClient("P(polling)", "polling")
    try:
        w.connect(demo_url, 1)
        quiet(w)
        p.connect(demo_url, 2)
        w.expect("presence", {"event": "connected", "user": p.user, "online": 2})
        quiet(w, p)  # no presence to the newcomer about itself
        assert w.id != p.id
        yield w, p
    finally:
        p.close()
        w.close()


# ------------------------------------------------------------------ tests


def test_nick_join_and_rooms(pair):
    w, p = pair
    assert w.ack("nick", "Wanda") == {"ok": True, "name": "Wanda"}
    w.name = "Wanda"
    assert p.ack("nick", "  Pál 🐍  ") == {"ok": True, "name": "Pál 🐍"}
    p.name = "Pál 🐍"
    quiet(w, p)  # nick broadcasts nothing

    assert_joined(w.ack("join", "lobby"), "lobby", [w.user])
    quiet(w, p)
    assert_joined(p.ack("join", "lobby"), "lobby", [w.user, p.user])
    w.expect("joined", {"room": "lobby", "user": p.user})
    quiet(w, p)

    assert_joined(p.ack("join", "kitchen"), "kitchen", [p.user])
    quiet(w, p)
    assert_rooms(w.ack("rooms"), [{"name": "lobby", "members": 2}, {"name": "kitchen", "members": 1}])
    assert_rooms(p.ack("rooms"), [{"name": "lobby", "members": 2}, {"name": "kitchen", "members": 1}])
    quiet(w, p)


def test_message_direct_and_leave(pair):
    w, p = pair
    assert w.ack("nick", "Wanda")["ok"] is True
    w.name = "Wanda"
    assert p.ack("nick", "Pete")["ok"] is True
    p.name = "Pete"
    assert_joined(w.ack("join", "lobby"), "lobby", [w.user])
    assert_joined(p.ack("join", "lobby"), "lobby", [w.user, p.user])
    w.expect("joined", {"room": "lobby", "user": p.user})
    quiet(w, p)

    # Room message, websocket -> polling; the sender gets no copy.
    t0 = now_ms()
    reply = w.ack("message", {"room": "lobby", "text": "hello from websocket"})
    t1 = now_ms()
    assert isinstance(reply, dict) and sorted(reply) == ["ok", "room", "ts"], f"message ack {reply!r}"
    assert reply["ok"] is True and reply["room"] == "lobby", f"message ack {reply!r}"
    assert_ts(reply["ts"], t0, t1, "message ack")
    p.expect("message", {"room": "lobby", "from": w.user, "text": "hello from websocket", "ts": reply["ts"]})
    quiet(w, p)

    # Room message, polling -> websocket, with unicode.
    text = "こんにちは 👋 from polling"
    reply = p.ack("message", {"room": "lobby", "text": text})
    assert reply.get("ok") is True, f"message ack {reply!r}"
    w.expect("message", {"room": "lobby", "from": p.user, "text": text, "ts": reply["ts"]})
    quiet(w, p)

    # Direct messages both ways: only the recipient gets them.
    t0 = now_ms()
    assert w.ack("direct", {"to": p.id, "text": "psst"}) == {"ok": True}
    t1 = now_ms()
    got = p.next("direct")
    assert sorted(got) == ["from", "text", "ts"] and got["from"] == w.user and got["text"] == "psst", f"direct {got!r}"
    assert_ts(got["ts"], t0, t1, "direct")
    quiet(w, p)
    assert p.ack("direct", {"to": w.id, "text": "psst back"}) == {"ok": True}
    got = w.next("direct")
    assert {**got, "ts": 0} == {"from": p.user, "text": "psst back", "ts": 0}, f"direct {got!r}"
    quiet(w, p)

    # Leave: the remaining member hears it; the room count drops.
    assert p.ack("leave", "lobby") == {"ok": True, "room": "lobby"}
    w.expect("left", {"room": "lobby", "user": p.user, "reason": "leave"})
    quiet(w, p)
    assert_rooms(p.ack("rooms"), [{"name": "lobby", "members": 1}])
    # No longer a member: writing to the room is refused and nothing is delivered.
    p.refused("message", {"room": "lobby", "text": "still there?"})
    p.refused("leave", "lobby")
    quiet(w, p)


def test_disconnect_notices(pair):
    w, p = pair
    assert p.ack("nick", "Polly")["ok"] is True
    p.name = "Polly"
    assert_joined(w.ack("join", "lobby"), "lobby", [w.user])
    assert_joined(p.ack("join", "lobby"), "lobby", [w.user, p.user])
    w.expect("joined", {"room": "lobby", "user": p.user})
    assert_joined(w.ack("join", "attic"), "attic", [w.user])
    assert_joined(p.ack("join", "attic"), "attic", [w.user, p.user])
    w.expect("joined", {"room": "attic", "user": p.user})
    quiet(w, p)

    gone = p.user
    p.close()
    lefts = [w.next("left"), w.next("left")]
    assert sorted(lefts, key=lambda n: n.get("room", "")) == [
        {"room": "attic", "user": gone, "reason": "disconnect"},
        {"room": "lobby", "user": gone, "reason": "disconnect"},
    ], f"left notices {lefts!r}"
    w.expect("presence", {"event": "disconnected", "user": gone, "online": 1})
    quiet(w)
    assert_rooms(w.ack("rooms"), [{"name": "attic", "members": 1}, {"name": "lobby", "members": 1}])
    # The departed socket id is no longer reachable.
    w.refused("direct", {"to": gone["id"], "text": "come back"})
    quiet(w)


def test_invalid_input_is_refused_and_the_client_is_still_served(pair):
    w, p = pair
    assert_joined(w.ack("join", "lobby"), "lobby", [w.user])
    assert_joined(p.ack("join", "lobby"), "lobby", [w.user, p.user])
    w.expect("joined", {"room": "lobby", "user": p.user})
    quiet(w, p)

    # A 33-character nickname, from the polling client: refused, the name stays.
    p.refused("nick", "x" * 33)
    # A message to a room the websocket client has not joined: refused, nothing delivered.
    p_only = "p-only"
    assert_joined(p.ack("join", p_only), p_only, [p.user])
    w.refused("message", {"room": p_only, "text": "let me in"})
    quiet(w, p)

    # Both are still served on the same connection, and the name did not change.
    assert w.sio.connected and p.sio.connected
    reply = p.ack("message", {"room": "lobby", "text": "after bad input"})
    assert reply.get("ok") is True, f"message ack {reply!r}"
    w.expect("message", {"room": "lobby", "from": p.user, "text": "after bad input", "ts": reply["ts"]})
    assert w.ack("direct", {"to": p.id, "text": "you too"}) == {"ok": True}
    got = p.next("direct")
    assert {**got, "ts": 0} == {"from": w.user, "text": "you too", "ts": 0}
    assert p.ack("nick", "x" * 32) == {"ok": True, "name": "x" * 32}
    quiet(w, p)
