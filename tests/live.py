"""A real server on the demo trust, for tests that talk HTTP to it as outsiders do (fuzzing, generated clients)."""

import atexit
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "ridealong-demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None, token=None):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        return json.load(response)


_seeded: Path | None = None


def seeded_demo_database(env: dict) -> Path:
    """The demo trust migrated and seeded once per test run; each server is given a copy of it."""
    global _seeded
    if _seeded is None:
        folder = Path(tempfile.mkdtemp(prefix="ridealong-demo-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        env = {**env, "DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite3'}"}
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
        subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        _seeded = folder / "demo.sqlite3"
    return _seeded


@contextlib.contextmanager
def demo_server(folder: Path, *, workers: int = 3, env: dict | None = None, expected: tuple[str, ...] = ()):
    """Serve a copy of the seeded demo database in `folder` with gunicorn; yields the base URL.

    At the end the server's log must hold no traceback, but for the errors a test causes on purpose
    (`expected`: text each such log line holds).
    """
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite3'}",
        "DEBUG": "false",
        "SITE_URL": "http://127.0.0.1",
        **(env or {}),
    }
    shutil.copyfile(seeded_demo_database(env), folder / "demo.sqlite3")
    port = free_port()
    # The server's log goes to a file: a pipe nobody reads fills up and stalls the server.
    log = open(folder / "server.log", "w")  # noqa: SIM115 - closed below
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    process = subprocess.Popen(
        [*command, "--timeout", "60", "backend.wsgi"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - loopback only
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
    unexpected = [
        line
        for line in (folder / "server.log").read_text().splitlines()
        if "Traceback" in line and not any(mark in line for mark in expected)
    ]
    assert not unexpected, unexpected[0][:4000]
