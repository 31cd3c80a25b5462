from django.core.management.base import BaseCommand
from django.utils import timezone

from scheduling.delivery import process_due
from scheduling.feed import forget_absorbed_feed_changes, forget_old_feed_events


class Command(BaseCommand):
    help = (
        "Expire bookings whose shift has started, queue 24-hour reminders and drop calendar-feed change "
        "notes, sent mail and idempotency records nothing needs any more. Safe to run every minute."
    )

    def handle(self, *args, **options):
        result = process_due()
        dropped = forget_absorbed_feed_changes()
        events = forget_old_feed_events(timezone.now())
        self.stdout.write(
            f"Expired {result['expired']} booking(s); queued {result['reminders']} reminder(s); "
            f"dropped {dropped} feed change note(s), {events} serialised event(s), "
            f"{result['pruned']['notifications']} sent notification(s) "
            f"and {result['pruned']['idempotency_keys']} idempotency record(s)."
        )
