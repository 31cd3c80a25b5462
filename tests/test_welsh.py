"""English and Welsh (SPEC §20): whose language a page, an e-mail, a feed and an API error is in, and a
pseudo-language walk of every page, e-mail and feed that fails for any string not marked for translation."""

import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.utils import translation
from django.utils.translation import trans_real

from scheduling import services
from scheduling.api.messages import DRF_FIELD_MESSAGES
from scheduling.models import AuditEvent, Booking, Notification

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def set_language(person, code):
    services.set_language(person=person, language=code, now=NOW)


# --- whose language ---------------------------------------------------------------------------------------


def test_a_welsh_speaker_reads_pages_in_welsh_with_welsh_dates(client, requester, night):
    set_language(requester, "cy")
    client.force_login(requester)
    page = client.get("/shifts/").content.decode()
    assert '<html lang="cy"' in page
    assert "Dod o hyd i shifft i'w harsylwi" in page
    assert "Sadwrn 10 Hydref 2026" in page  # the night of Saturday 10 October, in Welsh words
    assert "Find a shift to observe" not in page
    # The switch leads to the same page in English, and names English in English.
    assert 'href="/shifts/?lang=en" lang="en" hreflang="en" data-language-switch>English</a>' in page


def test_someone_not_signed_in_gets_the_sign_in_page_in_the_language_their_browser_asks_for(client, db):
    page = client.get("/sign-in/", HTTP_ACCEPT_LANGUAGE="cy,en;q=0.5")
    assert page["Content-Language"] == "cy"
    assert "Mewngofnodi i Ridealong" in page.content.decode()
    assert "Sign in to Ridealong" in client.get("/sign-in/", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()


def test_the_language_link_keeps_the_page_remembers_the_choice_and_sets_the_persons_language(client, requester):
    answer = client.get("/sign-in/?lang=cy&next=/bookings/")
    assert answer.cookies["ridealong_language"].value == "cy"
    assert "Mewngofnodi i Ridealong" in answer.content.decode()
    assert "Mewngofnodi i Ridealong" in client.get("/sign-in/").content.decode()  # the cookie remembers

    client.force_login(requester)
    page = client.get("/bookings/?lang=cy").content.decode()
    assert "Fy archebion" in page
    requester.profile.refresh_from_db()
    assert requester.profile.language == "cy"
    client.get("/bookings/?lang=en")
    requester.profile.refresh_from_db()
    assert requester.profile.language == "en"
    # Each change is in the person's audit trail, old and new; choosing the language already set is none.
    client.get("/bookings/?lang=en")
    trail = AuditEvent.objects.filter(subject=requester, action="language_changed").order_by("id")
    assert [e.note for e in trail] == ["- -> cy", "cy -> en"]


def test_someone_with_no_language_is_asked_once_at_sign_in(client, requester):
    requester.set_password("a long password 123")
    requester.save()
    answer = client.post("/sign-in/", {"username": "rachel", "password": "a long password 123"})
    assert answer.status_code == 302 and answer["Location"].startswith("/language/?next=")
    question = client.get(answer["Location"]).content.decode()
    assert "Language / Iaith" in question and "Ym mha iaith" in question and "Which language" in question
    chosen = client.post("/language/", {"language": "cy", "next": "/bookings/"})
    assert chosen["Location"] == "/bookings/"
    requester.profile.refresh_from_db()
    assert requester.profile.language == "cy"
    client.logout()
    again = client.post("/sign-in/", {"username": "rachel", "password": "a long password 123"})
    assert again["Location"] == "/"


def test_me_reads_and_sets_the_language(api, requester):
    client = api(requester)
    assert client.get("/api/v1/me").json()["language"] is None
    assert client.patch("/api/v1/me", {"language": "cy"}, format="json").json()["language"] == "cy"
    refused = client.patch("/api/v1/me", {"language": "fr"}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid" and "language" in refused.json()["fields"]


def test_an_api_error_keeps_its_code_with_a_welsh_detail(api, requester, night, settings):
    client = api(requester)
    english = client.get("/api/v1/bookings/999999")
    welsh = client.get("/api/v1/bookings/999999", HTTP_ACCEPT_LANGUAGE="cy")
    assert english.json()["code"] == welsh.json()["code"] == "not_found"
    assert welsh.json()["detail"] == "Does dim archeb â'r rhif adnabod hwnnw."
    # With no Accept-Language, the person's own language, signed in with a token as with a session.
    set_language(requester, "cy")
    _, secret = services.accounts.issue_api_token(person=requester, now=NOW)
    with_token = Client().get("/api/v1/bookings/999999", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert with_token.json()["detail"].startswith("Does dim archeb")
    with_session = Client()
    with_session.force_login(requester)
    assert with_session.get("/api/v1/bookings/999999").json()["detail"].startswith("Does dim archeb")


def test_the_apis_field_messages_are_welsh_too_drfs_own_included(api, requester, night):
    answer = api(requester).post(
        "/api/v1/bookings", {"shift": "one", "purpose": "x" * 3000}, format="json", HTTP_ACCEPT_LANGUAGE="cy"
    )
    assert answer.status_code == 400 and answer.json()["code"] == "invalid"
    fields = answer.json()["fields"]
    assert fields["shift"] == ["Mae angen cyfanrif dilys."]
    assert fields["purpose"][0].startswith("Sicrhewch nad oes gan y maes hwn fwy na")
    with translation.override("cy"):
        assert [m for m in DRF_FIELD_MESSAGES if translation.gettext(m) == m] == []


def test_a_welsh_speaker_gets_e_mails_and_the_feed_in_welsh(smtp, requester, mentor, paramedic, night, book, now):
    set_language(paramedic, "cy")
    book(requester, night, [requester, mentor])
    call_command("deliver_notifications")
    (asked,) = smtp.to(paramedic.email)
    assert asked["Subject"].strip().startswith("A all arsylwr ymuno â'ch shifft?")
    text = asked.get_body(("plain",)).get_content()
    assert "Helo Pat Paramedic," in text and "Sadwrn 10 Hydref 2026, 19:00 tan Dydd Sul 11 Hydref, 07:00" in text
    html = asked.get_body(("html",)).get_content()
    assert '<html lang="cy">' in html and "Rhoi cydsyniad" in html
    # The requester has no language set: the site's default, English.
    assert all("Ride-along" in m["Subject"] for m in smtp.to(requester.email))

    set_language(requester, "cy")
    token = services.issue_calendar_token(person=requester, now=now)
    feed = Client().get(f"/calendar/{token}.ics").content.decode().replace("\r\n ", "")
    # iCalendar escapes the comma in the summary.
    assert "SUMMARY:Gofynnwyd amdani: Taith arsylwi: Shifft nos DA12\\, Loughborough" in feed
    assert "DESCRIPTION:Diben: Learn how nights run" in feed


# --- the pseudo-language walk -----------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"(%\([^)]+\)[sdr]|%[sd%]|\{[^}]*\}|<[^>]+>|&\w+;|\x04)")
ACCENTED = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "ȧƀƈḓḗƒɠħīĵķŀḿƞǿƥɋřşŧŭṽẇẋẏẑȦƁƇḒḖƑƓĦĪĴĶĿḾȠǾƤɊŘŞŦŬṼẆẊẎẐ",
)


def pseudo(text: str) -> str:
    if "\x04" in text:  # pgettext: "context\x04message"
        text = text.split("\x04", 1)[1]
    return "".join(
        part if PLACEHOLDER.fullmatch(part) else part.translate(ACCENTED) for part in PLACEHOLDER.split(text)
    )


@pytest.fixture
def pseudo_language(monkeypatch):
    """Every string that goes through Django's translation machinery comes out in accented letters."""
    monkeypatch.setattr(trans_real.DjangoTranslation, "gettext", lambda self, message: pseudo(message))
    monkeypatch.setattr(
        trans_real.DjangoTranslation,
        "ngettext",
        lambda self, singular, plural, n: pseudo(singular if n == 1 else plural),
    )


class VisibleText(HTMLParser):
    """The words a reader sees or hears: text and the labels of aria-label, alt, placeholder and title,
    leaving out what is marked as another language (the language switch) and scripts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.words, self.links, self.skip = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style") or "lang" in attrs and tag != "html":
            if tag not in ("br", "img", "input", "meta", "link"):
                self.skip.append(tag)
            return
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if not self.skip:
            for name in ("aria-label", "alt", "placeholder"):
                if attrs.get(name):
                    self.words.append(attrs[name])

    def handle_endtag(self, tag):
        if self.skip and self.skip[-1] == tag:
            self.skip.pop()

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.words.append(data)


def data_values() -> re.Pattern:
    """Every text held in the database (names, stations, purposes, documents): data, never translated.
    Whole values, longest first, so that a word of the page's own ("Station") is not excused by a name
    that holds it ("Loughborough Ambulance Station")."""
    values = set()
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields if isinstance(f, models.CharField | models.TextField)]
        if not fields:
            continue
        for row in model.objects.values_list(*fields):
            values.update(" ".join(str(v).split()) for v in row if v and len(str(v).strip()) >= 3)
    alternatives = "|".join(map(re.escape, sorted(values, key=len, reverse=True)))
    return re.compile(r"(?<!\w)(?:" + alternatives + r")(?!\w)")


# Names that stay as they are in Welsh: the service, the NHS, formats and products.
KEPT = {
    "Ridealong",
    "NHS",
    "API",
    "JSON",
    "CSV",
    "DBS",
    "EASS",
    "Outlook",
    "Google",
    "Apple",
    "Calendar",
    "URL",
    "Bearer",
    "Authorization",
    "ics",
    "axe",
    "core",
    "webcal",
    "https",
    "http",
    "Cymraeg",
    "English",
    "Iaith",
    "Language",
    "sessionid",
    "csrftoken",
    "ridealong_language",
}
SKIP_PATHS = ("/admin", "/api/", "/static/", "/calendar/", "/act/", "/invite/", "/sign-out", "/oidc/")


def untranslated(text: str, allowed: set[str], data: re.Pattern | None = None) -> set[str]:
    text = re.sub(r"\S+@\S+|https?://\S+|webcal://\S+", " ", text)
    text = " ".join(text.split())
    if data is not None:  # whole values only, never part of a word ("vice" in "Service")
        text = data.sub(" ", text)
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in allowed and w.lower() not in allowed}


def walk(client, start: str, allowed: set[str], data: re.Pattern, limit: int = 80) -> dict[str, set[str]]:
    """Follow every same-site link from `start`, as this reader; the words on each page not translated."""
    seen, shapes, queue, found = set(), {}, [start], {}
    while queue and len(seen) < limit:
        path = queue.pop(0)
        shape = re.sub(r"\d+", "N", path)  # two of each kind of page: /shifts/1/request/, /shifts/2/request/
        if path in seen or shapes.get(shape, 0) >= 2:
            continue
        seen.add(path)
        shapes[shape] = shapes.get(shape, 0) + 1
        answer = client.get(path)
        if answer.status_code != 200 or "text/html" not in answer.get("Content-Type", ""):
            continue
        parser = VisibleText()
        parser.feed(answer.content.decode())
        bad = untranslated(" ".join(parser.words), allowed, data)
        if bad:
            found[path] = bad
        for href in parser.links:
            target = urlsplit(urljoin(path, href))
            if target.netloc or not target.path.startswith("/") or target.path.startswith(SKIP_PATHS):
                continue
            if "lang=" in target.query or target.path.endswith((".ics", ".csv")) or "format=csv" in target.query:
                continue
            queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return found


@pytest.mark.once_per_ci("sqlite")
def test_every_page_email_and_feed_is_translated(client, db, pseudo_language, settings):
    settings.SITE_URL = "http://testserver"
    call_command("seed_demo", stdout=io.StringIO())  # the demo story, its e-mails included
    allowed, data = set(KEPT), data_values()
    for value in (settings.RIDEALONG_ORGANISATION, settings.RIDEALONG_CONTACT_EMAIL, settings.RIDEALONG_DPO_EMAIL):
        allowed.update(re.findall(r"[A-Za-z]{3,}", value))
    failures = {}
    people = get_user_model().objects.filter(username__in=["rachel", "mo", "una", "lee", "pat", "terry", "admin"])
    for person in people:
        client.force_login(person)
        for path, words in walk(client, "/", allowed, data).items():
            failures[f"{person.username} {path}"] = words
        client.logout()
    for path, words in walk(client, "/sign-in/", allowed, data, limit=10).items():
        failures[f"(signed out) {path}"] = words

    # E-mails are written when they are queued: the demo's story queued every kind it tells.
    for mail in Notification.objects.all():
        parser = VisibleText()
        parser.feed(mail.html)
        for where, text in (("subject", mail.subject), ("text", mail.body), ("html", " ".join(parser.words))):
            bad = untranslated(text, allowed, data)
            if bad:
                failures[f"e-mail {mail.kind} {where}"] = bad

    rachel = people.get(username="rachel")
    token = services.issue_calendar_token(person=rachel, now=NOW)
    feed = client.get(f"/calendar/{token}.ics").content.decode()
    lines = [
        line.split(":", 1)[1]
        for line in feed.replace("\r\n ", "").splitlines()
        if line.startswith(("SUMMARY", "DESCRIPTION"))
    ]
    assert lines and Booking.objects.exists()
    bad = untranslated(" ".join(lines).replace("\\n", " "), allowed, data)
    if bad:
        failures["calendar feed"] = bad

    report = "\n".join(f"{where}: {sorted(words)}" for where, words in sorted(failures.items()))
    assert not failures, f"Words that did not change under the pseudo-language (not marked for translation):\n{report}"


def test_the_welsh_catalogue_is_complete():
    """Every string marked for translation has a Welsh text (makemessages would add any new one untranslated)."""
    text = (Path(settings.BASE_DIR) / "locale/cy/LC_MESSAGES/django.po").read_text()
    entries = text.split("\n\n")[1:]
    empty = [
        e for e in entries if re.search(r'^msgstr(\[\d\])? ""\n?$', e.strip().split("\n")[-1]) and '""\n"' not in e
    ]
    assert not [e for e in entries if "#, fuzzy" in e]
    assert not empty, empty[:5]


def test_the_station_report_writes_months_in_words_in_the_readers_language(client, lead, requester, night, book):
    book(requester, night)
    client.force_login(lead)
    path = f"/lead/stations/{night.station_id}/report/"
    english = client.get(path).content.decode()
    assert "Oct 2026" in english and "2026-10" not in english
    set_language(lead, "cy")
    welsh = client.get(path).content.decode()
    assert "Hydref 2026" in welsh and "2026-10" not in welsh
