import time

from django.core.management.base import BaseCommand

from scheduling.delivery import deliver_batch


class Command(BaseCommand):
    help = "Send the e-mails waiting in the outbox. Safe to run from several workers at once."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep going, polling for new messages.")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between polls with --loop.")

    def handle(self, *args, loop=False, interval=5.0, **options):
        total_sent = total_failed = 0
        while True:
            sent, failed = deliver_batch()
            total_sent += sent
            total_failed += failed
            if not loop and sent == 0:
                break
            if loop and sent == 0:
                time.sleep(interval)
        self.stdout.write(f"Sent {total_sent} message(s); {total_failed} will be retried.")
