"""A demo trust: three stations, four weeks of day and night shifts from today, crews, observers and leads."""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from scheduling import services
from scheduling.models import Booking, Resource, Station

User = get_user_model()

PASSWORD = "ridealong-demo"

STATIONS = [
    (
        "LGH",
        "Loughborough",
        "Epinal Way, Loughborough LE11 3GE",
        [("DA12", "ambulance", 2), ("DA14", "ambulance", 2), ("RRV3", "rapid_response_car", 1)],
    ),
    (
        "MEL",
        "Melton Mowbray",
        "Thorpe Road, Melton Mowbray LE13 1SH",
        [("DA21", "ambulance", 2), ("CTRL1", "control_desk", 2)],
    ),
    ("HNK", "Hinckley", "Hinckley Road, Hinckley LE10 0TG", [("DA31", "ambulance", 2)]),
]


DOCUMENTS = [
    (
        "confidentiality",
        "Confidentiality agreement",
        "While you observe a crew you will see and hear things about patients, their families and the public.\n\n"
        "Keep everything you learn about them to yourself: do not repeat it, write it down, photograph it or post "
        "about it, during the shift or after it.\n\n"
        "If you are unsure whether something can be shared, ask the crew or the station lead first.",
    ),
    (
        "briefing",
        "Safety briefing",
        "Wear the high-visibility jacket the station gives you, and sturdy shoes.\n\n"
        "Do what the crew tell you at once, especially at the roadside and on scene: their safety and the "
        "patient's come first. Stay in the vehicle if they ask you to.\n\n"
        "Never lift, treat or drive. Tell the crew at once if you feel unwell or unsafe.",
    ),
]


class Command(BaseCommand):
    help = "Load a demo trust (stations, four weeks of shifts, crews, observers, leads) and print the logins."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if any station exists.")

    def handle(self, *args, if_empty=False, **options):
        if if_empty and Station.objects.exists():
            self.stdout.write("Demo data already present; leaving the database as it is.")
            self.print_logins()
            return
        now = timezone.now()
        with transaction.atomic():
            self.seed(now)
        self.print_logins()

    def person(self, username, name, **kw):
        cleared = kw.pop("cleared", False)
        person = services.create_person(
            username=username, password=PASSWORD, name=name, email=f"{username}@trust.example", **kw
        )
        # The demo's staff have chosen English already; a visitor is asked at their first sign-in.
        services.set_language(person=person, language="en", now=timezone.now())
        if cleared:
            # "dbs": only the check a lead records; the rest the person signs online (SPEC §19).
            kinds = ("dbs",) if cleared == "dbs" else ("dbs", "confidentiality", "briefing")
            for kind in kinds:
                person.clearances.create(
                    kind=kind,
                    valid_from=date(2025, 1, 1),
                    valid_until=date(2029, 12, 31),
                    reference=f"{kind.upper()}-{person.pk:05d}",
                )
        return person

    def seed(self, now):
        # The documents observers sign online (SPEC §19), version 1 of each, published before anyone signed.
        for kind, title, body in DOCUMENTS:
            if kind in settings.RIDEALONG_ONLINE_CLEARANCES:
                services.paperwork.publish(actor=None, kind=kind, title=title, body=body, now=now - timedelta(days=60))
        self.person("admin", "Ada Admin", is_staff=True, staff_number="A0001")
        rachel = self.person(
            "rachel", "Rachel Reid (Operations Manager)", is_requester=True, cleared=True, staff_number="M1001"
        )
        mo = self.person("mo", "Mo Okafor (Director, mentor)", is_requester=True, cleared="dbs", staff_number="M1002")
        # The mentor signed her confidentiality agreement and safety briefing online a month ago, as in the story.
        for kind in settings.RIDEALONG_ONLINE_CLEARANCES:
            document = services.paperwork.current_documents()[kind]
            services.paperwork.sign(
                person=mo,
                kind=kind,
                version=document.version,
                full_name=mo.profile.name,
                agree=True,
                now=now - timedelta(days=30),
            )
        self.person("una", "Una Ukwu (new manager, not yet cleared)", is_requester=True, staff_number="M1003")
        self.person("eve", "Eve Evans (educator)", is_requester=True, cleared=True, staff_number="M1004")
        # A visitor from outside the trust, invited by Rachel and not yet in (the e-mail is in the outbox).
        services.visitors.invite(
            actor=rachel, name="Vic Visitor (mentor from another trust)", email="vic@visitor.example", now=now
        )
        serial = 2000
        for code, name, address, resources in STATIONS:
            lead = self.person(f"lead_{code.lower()}", f"{name} station lead", staff_number=f"L{code}")
            if code == "LGH":
                lead.username = "lee"
                lead.save(update_fields=["username"])
            station = Station.objects.create(
                code=code,
                name=name,
                address=address,
                min_notice_hours=72,
                max_observers_per_day=6,
                crew_hosting_limit=4,
            )
            station.leads.add(lead)
            tz = station.tz
            today = now.astimezone(tz).date()
            for call_sign, kind, seats in resources:
                resource = Resource.objects.create(
                    station=station, call_sign=call_sign, kind=kind, observer_seats=seats
                )
                crews = []
                for crew_name in ("day", "night"):
                    members = []
                    for role in ("paramedic", "technician"):
                        serial += 1
                        username = f"{role[:4]}_{call_sign.lower()}_{crew_name}"
                        preference = "always" if role == "technician" else "ask"
                        if code == "LGH" and call_sign == "DA12" and crew_name == "night":
                            username = "pat" if role == "paramedic" else "terry"
                        members.append(
                            (
                                self.person(
                                    username,
                                    f"{role.title()} {call_sign} {crew_name}",
                                    staff_number=f"C{serial}",
                                    consent_preference=preference,
                                ),
                                role if kind != "control_desk" else "call_handler",
                            )
                        )
                    crews.append(members)
                for offset in range(28):
                    day = today + timedelta(days=offset)
                    for start_h, end_h, crew in ((7, 19, crews[0]), (19, 7, crews[1])):
                        starts = datetime.combine(day, time(start_h), tz)
                        end_day = day if end_h > start_h else day + timedelta(days=1)
                        ends = datetime.combine(end_day, time(end_h), tz)
                        services.create_shift(
                            actor=None,
                            resource_id=resource.pk,
                            starts_at=starts,
                            ends_at=ends,
                            external_ref=f"{code}-{call_sign}-{day:%Y%m%d}-{'D' if start_h == 7 else 'N'}",
                            crew=[(p.pk, role) for p, role in crew],
                            now=now,
                        )

        self.past_ride_along(now)

    def past_ride_along(self, now):
        """Rachel and Mo's night with Pat and Terry ten days ago, and what came of it (SPEC §14)."""
        people = {u.username: u for u in User.objects.filter(username__in=["rachel", "mo", "pat", "terry", "lee"])}
        station = Station.objects.get(code="LGH")
        tz = station.tz
        day = now.astimezone(tz).date() - timedelta(days=10)
        then = now - timedelta(days=20)
        shift = services.create_shift(
            actor=None,
            resource_id=Resource.objects.get(station=station, call_sign="DA12").pk,
            starts_at=datetime.combine(day, time(19), tz),
            ends_at=datetime.combine(day + timedelta(days=1), time(7), tz),
            external_ref=f"LGH-DA12-{day:%Y%m%d}-N",
            crew=[(people["pat"].pk, "paramedic"), (people["terry"].pk, "technician")],
            now=then,
        )
        booking = services.request_booking(
            actor=people["rachel"],
            shift_id=shift.pk,
            observer_ids=[people["rachel"].pk, people["mo"].pk],
            purpose="Mentoring: see how a night crew prioritises calls and hands over at the hospital.",
            now=then,
        )
        services.give_consent(booking_id=booking.pk, actor=people["pat"], now=then + timedelta(hours=3))
        services.approve_booking(booking_id=booking.pk, actor=people["lee"], now=then + timedelta(days=1))
        ended = shift.ends_at + timedelta(hours=2)
        services.record_outcome(booking_id=booking.pk, actor=people["pat"], outcome="attended", now=ended)
        booking = Booking.objects.get(pk=booking.pk)
        after = services.after
        after.save_reflection(
            person=people["rachel"],
            booking=booking,
            text="Handovers at the emergency department took longer than the calls. Worth raising at the ops meeting.",
            shared=False,
            now=ended,
        )
        after.save_reflection(
            person=people["mo"],
            booking=booking,
            text="The crew's triage on the road is excellent; our dispatch notes could give them more to go on.",
            shared=True,
            now=ended,
        )
        after.add_action(
            person=people["rachel"],
            booking=booking,
            text="Share the handover timings with the ED matron",
            owner_id=people["rachel"].pk,
            due_on=(ended + timedelta(days=3)).date(),
            done=True,
            now=ended,
        )
        after.add_action(
            person=people["mo"],
            booking=booking,
            text="Ask control to trial fuller dispatch notes for a week",
            owner_id=people["rachel"].pk,
            due_on=(now + timedelta(days=4)).date(),
            now=ended,
        )
        after.leave_feedback(
            person=people["pat"],
            booking=booking,
            text="Thanks for the good questions, and for staying out of the way at the big call.",
            now=ended,
        )

    def print_logins(self):
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {PASSWORD})"))
        for username, what in [
            ("rachel", "requester: books ride-alongs for herself and her mentor"),
            ("mo", "mentor (director), cleared observer: DBS recorded, paperwork signed online (My paperwork)"),
            ("una", "requester without clearances (requests naming her are refused: no DBS check)"),
            ("lee", "station lead of Loughborough (LGH): approval queue"),
            ("pat", "paramedic on LGH DA12 nights: consent inbox (asks each time)"),
            ("terry", "technician on LGH DA12 nights: always consents"),
            ("admin", "admin: everything, including /admin/"),
        ]:
            self.stdout.write(f"  {username:<8} {what}")
        self.stdout.write(
            "  (a visitor, vic@visitor.example, is invited and not yet in: the invitation is in the outbox)"
        )
