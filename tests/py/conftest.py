"""Fixtures for the Python interop tests: the Rust `interop_server` example.

Contract: started with PORT=0 the binary binds 127.0.0.1 on an ephemeral
port and prints exactly one line `LISTENING 127.0.0.1:<port>` on stdout;
everything else goes to stderr (captured here in a temporary log file).
`server_url` is the server with the default (JSON) parser, `msgpack_server_url` the same binary
started with PARSER=msgpack (socket.io-msgpack-parser's wire format).
"""

import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER = REPO_ROOT / "target" / "debug" / "examples" / "interop_server"
STARTUP_TIMEOUT_S = 20
STOP_TIMEOUT_S = 5
PER_TEST_TIMEOUT_S = 20
LISTENING_RE = re.compile(r"^LISTENING (127\.0\.0\.1:\d+)\s*$")

_server_log_paths = []


def _server_path():
    return Path(os.environ.get("INTEROP_SERVER") or DEFAULT_SERVER)


@pytest.fixture(scope="session")
def server_url():
    """Starts the interop server once per session and yields its base URL."""
    yield from _serve({"PARSER": None})


@pytest.fixture(scope="session")
def msgpack_server_url():
    """The interop server with the msgpack parser (PARSER=msgpack), once per session."""
    yield from _serve({"PARSER": "msgpack"})


def _serve(extra_env):
    """Runs the interop server with `extra_env` (None unsets) and yields its base URL."""
    path = _server_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"interop server binary not found or not executable: {path}\n"
            "build it with `cargo build --example interop_server` or set INTEROP_SERVER",
            pytrace=False,
        )

    log_dir = tempfile.mkdtemp(prefix="actix-socketio-interop-py-")
    _server_log_path = os.path.join(log_dir, "server.log")
    _server_log_paths.append(_server_log_path)
    log = open(_server_log_path, "wb")
    env = {**os.environ, "PORT": "0"}
    for key, value in extra_env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.Popen(
        [str(path)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
    )

    lines = queue.Queue()

    def read_stdout():
        # The first line goes to the fixture; the rest is drained so the pipe never fills.
        for raw in proc.stdout:
            lines.put(raw.decode("utf-8", "replace"))
        lines.put(None)

    threading.Thread(target=read_stdout, name="interop-server-stdout", daemon=True).start()

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        log.close()

    try:
        first = lines.get(timeout=STARTUP_TIMEOUT_S)
    except queue.Empty:
        stop()
        pytest.fail(
            f"interop server did not print LISTENING within {STARTUP_TIMEOUT_S} s (log: {_server_log_path})",
            pytrace=False,
        )
    match = LISTENING_RE.match(first or "")
    if match is None:
        code = proc.poll()
        stop()
        pytest.fail(
            f"unexpected first stdout line from interop server: {first!r} "
            f"(exit code {code}; log: {_server_log_path})",
            pytrace=False,
        )

    url = f"http://{match.group(1)}"
    print(f"\ninterop server {path} {extra_env} at {url}; stderr log: {_server_log_path}")
    yield url

    crashed = proc.poll()
    stop()
    if crashed is not None:
        pytest.fail(
            f"interop server exited during the tests with code {crashed} (log: {_server_log_path})",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _bounded_test_time():
    """Fails a test that runs longer than PER_TEST_TIMEOUT_S (SIGALRM, main thread)."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {PER_TEST_TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(PER_TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus == 0:
        return
    for log_path in _server_log_paths:
        if not os.path.exists(log_path):
            continue
        with open(log_path, "rb") as f:
            tail = f.read()[-6000:].decode("utf-8", "replace")
        terminalreporter.section("interop server stderr (tail)")
        terminalreporter.write_line(f"full log: {log_path}")
        terminalreporter.write(tail + "\n")
