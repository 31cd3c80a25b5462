from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scheduling.errors import BookingError
from scheduling.services.privacy import erase_person


class Command(BaseCommand):
    help = (
        "Anonymise a person who has no live bookings (SPEC §13): name, contact details, clearances, tokens "
        "and calendar link go; bookings and history keep their ids."
    )

    def add_arguments(self, parser):
        parser.add_argument("person_id", type=int)

    def handle(self, *args, person_id, **options):
        try:
            person = erase_person(person_id=person_id, actor=None, now=timezone.now())
        except BookingError as error:
            raise CommandError(error.detail) from error
        self.stdout.write(self.style.SUCCESS(f"Person {person.pk} is erased (now {person.username})."))
