"""The per-person API rate (SPEC §12): RIDEALONG_API_RATE requests a minute, admins exempt."""

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from ..access import is_admin

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}

# One statement, atomic on both databases: the count for this person and window, after this request.
COUNT = """
INSERT INTO scheduling_apiratewindow (person_id, started_at, count) VALUES (%s, %s, 1)
ON CONFLICT (person_id, started_at) DO UPDATE SET count = scheduling_apiratewindow.count + 1
RETURNING count
"""


def parse_rate(rate: str) -> tuple[int, int]:
    number, _, period = rate.partition("/")
    return int(number), PERIODS[period.strip().lower()]


class PersonRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False) or is_admin(user):
            return True
        limit, seconds = parse_rate(settings.RIDEALONG_API_RATE)
        now = timezone.now()
        start = now.timestamp() // seconds * seconds
        window = now.fromtimestamp(start, now.tzinfo)
        with connection.cursor() as cursor:
            cursor.execute(COUNT, [user.pk, connection.ops.adapt_datetimefield_value(window)])
            count = cursor.fetchone()[0]
        self.wait_seconds = max(1, int(start + seconds - now.timestamp()) + 1)
        return count <= limit

    def wait(self):
        return self.wait_seconds
