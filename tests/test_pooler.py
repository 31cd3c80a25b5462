"""Behind PgBouncer in transaction pooling (SPEC §16): nothing set at connect time, lock_timeout per transaction,
no server-side cursors."""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from scheduling.services.base import write_transaction

PRINT_DATABASE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'db': settings.DATABASES['default'], 'lock': settings.RIDEALONG_CONNECTION_LOCK_TIMEOUT_MS}))"
)


def settings_with(**env):
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings", **env}
    out = subprocess.run([sys.executable, "-c", PRINT_DATABASE], env=environment, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_behind_pgbouncer_nothing_is_sent_at_connect_time_and_cursors_stay_in_the_transaction():
    direct = settings_with(DATABASE_URL="postgres://postgres@127.0.0.1:5432/ridealong")
    assert "-c lock_timeout=3000" in direct["db"]["OPTIONS"]["options"]
    assert direct["lock"] == 3000
    pooled = settings_with(DATABASE_URL="postgres://postgres@127.0.0.1:6432/ridealong", DATABASE_POOLER="pgbouncer")
    assert "options" not in pooled["db"].get("OPTIONS", {})
    assert pooled["db"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert pooled["lock"] is None
    assert settings_with(DB_CONN_MAX_AGE="")["db"]["CONN_MAX_AGE"] == 60


def test_an_unknown_pooler_stops_the_app_at_start():
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings", "DATABASE_POOLER": "pgpool"}
    out = subprocess.run([sys.executable, "-c", PRINT_DATABASE], env=environment, capture_output=True, text=True)
    assert out.returncode != 0 and "DATABASE_POOLER" in out.stderr


@pytest.mark.django_db(transaction=True)
def test_pooled_every_write_transaction_bounds_its_lock_wait_itself(settings):
    if connection.vendor != "postgresql":
        pytest.skip("lock_timeout is PostgreSQL's")
    settings.RIDEALONG_CONNECTION_LOCK_TIMEOUT_MS = None  # as behind PgBouncer: the connection carries nothing
    settings.RIDEALONG_LOCK_TIMEOUT_MS = 1500
    with write_transaction(), connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "1500ms"
    with connection.cursor() as cursor:  # SET LOCAL ended with the transaction
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] != "1500ms"
