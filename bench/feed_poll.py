"""Feed polling: the steady load of a trust whose staff subscribe, against a health check.

1,000 people, each with 4 bookings and a calendar link. 90% of requests carry the ETag the client
last saw (If-None-Match), 10% are unconditional; 16 connections to gunicorn with the project's config
(gunicorn.conf.py). Short slices of the polling mix and of GET /healthz alternate, so a machine that
speeds up or slows down during the run weighs on both alike. The load generator is Debian's `wrk`.

    .venv/bin/python bench/feed_poll.py [--people 1000] [--seconds 30] [--slices 3]
"""

import argparse
import re
import shutil
import subprocess
import tempfile
import urllib.request
from datetime import datetime

from common import django_setup, fresh_database, machine, spread_shifts, start_gunicorn

CONNECTIONS = 16
BOOKINGS_EACH = 4

# wrk calls request() for every request; the feeds' paths and ETags are the script's own table.
DONE = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %d %d\\n", summary.requests, summary.duration / 1e6,
                         latency:percentile(50), latency:percentile(99)))
  local s = summary.errors
  io.write(string.format("ERRORS %d %d %d %d %d\\n", s.connect, s.read, s.write, s.status, s.timeout))
end
"""
FEED_LUA = """
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
function init(args)
  math.randomseed(seed * 7919)
end
function request()
  local feed = feeds[math.random(#feeds)]
  if math.random() < 0.9 then
    return wrk.format("GET", feed[1], {["If-None-Match"] = feed[2]})
  end
  return wrk.format("GET", feed[1])
end
"""
HEALTH_LUA = 'function request() return wrk.format("GET", "/healthz") end\n' + DONE


def seed(people: int) -> list[str]:
    from django.utils import timezone

    from scheduling import services

    now = timezone.now()
    # As many shifts of 4 seats as people: each person books 4 of them, and each shift fills once.
    shifts = spread_shifts("POLL", 10, people, seats=lambda i: BOOKINGS_EACH)
    step = 10 * max(1, people // (10 * BOOKINGS_EACH))  # a person's 4 shifts, at 4 different times
    paths = []
    for i in range(people):
        person = services.create_person(username=f"poll{i}", is_requester=True)
        for kind in ("dbs", "confidentiality", "briefing"):
            person.clearances.create(kind=kind, valid_from=datetime(2020, 1, 1).date())
        for k in range(BOOKINGS_EACH):
            shift = shifts[(i + k * step) % people]
            services.request_booking(actor=person, shift_id=shift, purpose="Polling benchmark", now=now)
        paths.append(f"/calendar/{services.issue_calendar_token(person=person, now=now)}.ics")
    return paths


def wrk(base: str, script: str, seconds: float) -> tuple[int, float, float, float, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", lua.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    requests, duration, p50, p99 = re.search(r"RESULT (\d+) ([\d.]+) (\d+) (\d+)", out).groups()
    errors = re.search(r"ERRORS (.*)", out).group(1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += f"; non-2xx/3xx {non_2xx.group(1)}"
    return int(requests), float(duration), int(p50) / 1000, int(p99) / 1000, errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30, help="per load, over all slices")
    parser.add_argument("--slices", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("feed_poll.py needs wrk: apt-get install wrk (make bench installs it)")
    url = fresh_database("ridealong_bench_poll")
    django_setup(url)
    paths = seed(args.people)
    server, base = start_gunicorn(url)
    try:
        feeds = []
        for path in paths:  # each client's first poll: what it will send back as If-None-Match
            with urllib.request.urlopen(base + path) as response:  # noqa: S310 - loopback
                body = response.read()
                assert body.count(b"BEGIN:VEVENT") == BOOKINGS_EACH, body[:200]
                feeds.append(f'{{"{path}", {lua_string(response.headers["ETag"])}}}')
        script = "local feeds = {" + ",\n".join(feeds) + "}\n" + FEED_LUA + DONE
        wrk(base, HEALTH_LUA, 2)  # warm-up, both loads
        wrk(base, script, 2)
        feed_n = feed_t = health_n = health_t = 0.0
        feed_p99, health_p99, feed_p50, health_p50, errors = [], [], [], [], []
        for _ in range(args.slices):
            n, t, p50, p99, err = wrk(base, script, args.seconds / args.slices)
            feed_n, feed_t = feed_n + n, feed_t + t
            feed_p50.append(p50)
            feed_p99.append(p99)
            errors.append("feed " + err)
            n, t, p50, p99, err = wrk(base, HEALTH_LUA, args.seconds / args.slices)
            health_n, health_t = health_n + n, health_t + t
            health_p50.append(p50)
            health_p99.append(p99)
            errors.append("healthz " + err)
    finally:
        server.terminate()
        server.wait()
    feed_rate, health_rate = feed_n / feed_t, health_n / health_t
    print(f"machine: {machine()}")
    print(f"people: {len(paths)}, bookings each: {BOOKINGS_EACH}, connections: {CONNECTIONS}")
    print(
        f"feed polling (90% conditional): {feed_n:.0f} in {feed_t:.1f} s = {feed_rate:.1f}/s; "
        f"p50 {max(feed_p50):.1f} ms, p99 {max(feed_p99):.1f} ms (worst slice; target < 100 ms)"
    )
    print(
        f"GET /healthz: {health_n:.0f} in {health_t:.1f} s = {health_rate:.1f}/s; "
        f"p50 {max(health_p50):.1f} ms, p99 {max(health_p99):.1f} ms"
    )
    print(f"errors (connect read write status timeout): {' | '.join(errors)}")
    print(f"feed polling / healthz throughput = {feed_rate / health_rate:.2f} (target >= 0.5)")


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    main()
