"""Schemathesis against the running app's own OpenAPI schema, signed in as several personas.

Every generated request, valid or malformed, must get a non-5xx answer that matches the schema.
"""

import os
import subprocess
import sys
import zoneinfo
from datetime import datetime
from pathlib import Path

import pytest

from tests.live import PASSWORD, call, demo_server

ST = Path(sys.executable).with_name("st")
LONDON = zoneinfo.ZoneInfo("Europe/London")
ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.once_per_ci("sqlite"),  # its server runs on SQLite whatever the pass
    pytest.mark.skipif(not ST.exists(), reason="schemathesis is not installed (make test installs it)"),
]

# Pinning `id` to 1 reaches real objects (station, shift, booking 1 …); the unpinned run tries unknown ids.
# The unpinned admin run signs in as an admin of its own: the pinned one edits person 1, the demo admin,
# and a new password (or deactivation) there rightly ends every token that admin holds.
PASSES = [("rachel", True), ("lee", True), ("auditor", False), ("admin", True)]


def starts_at_19_in_london(shift: dict) -> bool:
    """A night by the station's clock, whatever the season (19:00 in London is 18:00 UTC in summer)."""
    return datetime.fromisoformat(shift["starts_at"].replace("Z", "+00:00")).astimezone(LONDON).hour == 19


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    with demo_server(folder) as base:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite3'}", "DEBUG": "false"}
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "auditor"],
            env={**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD, "DJANGO_SUPERUSER_EMAIL": "auditor@trust.example"},
            cwd=Path(__file__).resolve().parent.parent,
            check=True,
            capture_output=True,
        )
        tokens = {
            u: call(base + "/api/v1/auth/token", {"username": u, "password": PASSWORD})["token"]
            for u in ("rachel", "pat", "lee", "admin", "auditor")
        }
        # Give the pinned id 1 a booking to act on: the first open DA12 night at Loughborough.
        shifts = call(base + "/api/v1/shifts?available=true&station=1&page_size=200", token=tokens["rachel"])
        night = next(s for s in shifts["results"] if starts_at_19_in_london(s) and s["resource"] == 1)
        call(
            base + "/api/v1/bookings",
            {"shift": night["id"], "observers": [2, 3], "purpose": "Fuzzing"},
            token=tokens["rachel"],
        )
        yield base, tokens, folder


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
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": str(ROOT)},
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
