"""Schemathesis against the running app's own OpenAPI schema, signed in as several personas.

Every generated request, valid or malformed, must get a non-5xx answer that matches the schema.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ST = Path(sys.executable).with_name("st")

pytestmark = [
    pytest.mark.once_per_ci,
    pytest.mark.skipif(not ST.exists(), reason="schemathesis is not installed (make test installs it)"),
]

# Pinning `id` to 1 reaches real objects (station, shift, booking 1 …); the unpinned run tries unknown ids.
PASSES = [("rachel", True), ("lee", True), ("admin", False), ("admin", True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url, body=None, token=None):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        return json.load(response)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'fuzz.sqlite3'}",
        "DEBUG": "false",
        "SITE_URL": "http://127.0.0.1",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    port = _free_port()
    # The server's log goes to a file: a pipe nobody reads fills up and stalls the server.
    log = open(folder / "server.log", "w")  # noqa: SIM115 - closed at teardown
    # Several worker processes, so that the four fuzzing runs below can go side by side.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "3",
            "--timeout",
            "60",
            "backend.wsgi",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - loopback only
            break
        except OSError:
            time.sleep(0.1)
    tokens = {
        u: _call(base + "/api/v1/auth/token", {"username": u, "password": "ridealong-demo"})["token"]
        for u in ("rachel", "pat", "lee", "admin")
    }
    # Give the pinned id 1 a booking to act on: the first open DA12 night at Loughborough.
    shifts = _call(base + "/api/v1/shifts?available=true&station=1&page_size=200", token=tokens["rachel"])
    night = next(s for s in shifts["results"] if s["starts_at"][11:13] == "19" and s["resource"] == 1)
    _call(
        base + "/api/v1/bookings",
        {"shift": night["id"], "observers": [2, 3], "purpose": "Fuzzing"},
        token=tokens["rachel"],
    )
    yield base, tokens, folder
    process.terminate()
    process.wait(timeout=10)
    log.close()
    errors = (folder / "server.log").read_text()
    assert "Traceback" not in errors, errors[errors.index("Traceback") - 200 :][:4000]


@pytest.fixture(scope="module")
def runs(server):
    """Start one schemathesis run per persona at once; each test below waits for its own."""
    base, tokens, folder = server
    started = {}
    for persona, pinned in PASSES:
        config = folder / f"{persona}-{pinned}.toml"
        config.write_text('[parameters]\n"path.id" = 1\n' if pinned else "")
        command = [
            str(ST),
            "--config-file",
            str(config),
            "run",
            f"{base}/api/schema/",
            "-H",
            f"Authorization: Token {tokens[persona]}",
            "-c",
            "not_a_server_error,response_schema_conformance",
            "-n",
            "4",
            "--phases",
            "coverage,fuzzing",
            "-w",
            "2",
            "--no-color",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            "--seed",
            "7",
        ]
        output = open(folder / f"{persona}-{pinned}.out", "w+")  # noqa: SIM115 - read and closed by the test
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=folder,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
        started[(persona, pinned)] = (process, output)
    yield started
    for process, output in started.values():
        if process.poll() is None:
            process.kill()
        output.close()


@pytest.mark.parametrize(("persona", "pinned"), PASSES, ids=[f"{p}-{'pinned' if k else 'any'}" for p, k in PASSES])
def test_no_5xx_and_every_response_matches_the_schema(runs, persona, pinned):
    process, output = runs[(persona, pinned)]
    returncode = process.wait(timeout=900)
    output.seek(0)
    assert returncode == 0, output.read()[-6000:]
