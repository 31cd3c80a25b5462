from django.core.management.base import BaseCommand

from scheduling.delivery import process_due


class Command(BaseCommand):
    help = "Expire bookings whose shift has started and queue 24-hour reminders. Safe to run every minute."

    def handle(self, *args, **options):
        result = process_due()
        self.stdout.write(f"Expired {result['expired']} booking(s); queued {result['reminders']} reminder(s).")
