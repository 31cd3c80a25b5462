from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scheduling.services.rota import import_rota


class Command(BaseCommand):
    help = (
        "Import shifts from the rostering system's CSV (shift_ref, station, resource, start, end, crew, "
        "observer_seats, status). All or nothing: any bad row imports nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file, UTF-8")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; change nothing.")

    def handle(self, *args, file, dry_run=False, **options):
        path = Path(file)
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        report = import_rota(raw, now=timezone.now(), dry_run=dry_run)
        if report.errors:
            for line in report.errors:
                self.stderr.write(line)
            raise CommandError(f"{len(report.errors)} problem(s) found; nothing was imported.")
        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(
            f"{verb}: {len(report.created)} new, {len(report.updated)} changed, "
            f"{len(report.unchanged)} unchanged shift(s)."
        )
        for label, refs in (("new", report.created), ("changed", report.updated)):
            for ref in refs:
                self.stdout.write(f"  {label}: {ref}")
