"""The coordinator's Programmes pages (SPEC §18): members by targets, a chart, and a CSV of the same numbers."""

import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from .. import access
from ..errors import NotFound
from ..models import Programme
from ..services import programmes
from .station import safe_cell

MEASURES = [
    ("ride_alongs", _("Ride-alongs")),
    ("nights", _("Nights")),
    ("hours", _("Hours")),
    ("stations", _("Stations")),
]
STATE_WORDS = {
    "met": (_("Target met"), "green"),
    "on_track": (_("On track"), "blue"),
    "behind": (_("Behind"), "red"),
    "not_started": (_("Not started"), "grey"),
    None: (_("No target"), "white"),
}
CHART_WIDTH, BAR_LEFT, ROW = 280, 0, 44


def progress_chart(rows: list[dict]) -> dict:
    """Ride-alongs done against the target, one bar per member, drawn at the size a 320 px screen shows it:
    the viewBox is 280 wide, so its 12-unit text is never drawn smaller than 12 CSS px there."""
    bars = []
    for n, row in enumerate(rows):
        measure = row["ride_alongs"]
        target = measure["target"] or max(measure["done"], 1)
        share = min(measure["done"] / target, 1) if target else 0
        bars.append(
            {
                "label": row["person"]["name"],
                "text": _("%(done)s of %(target)s") % {"done": measure["done"], "target": measure["target"] or "–"},
                "y": n * ROW + 18,
                "text_y": n * ROW + 13,
                "w": round(share * CHART_WIDTH),
                "colour": STATE_WORDS[measure["state"]][1],
            }
        )
    return {"bars": bars, "width": CHART_WIDTH, "height": max(len(rows), 1) * ROW}


def _programme_for(request, pk) -> Programme | None:
    try:
        return access.access_programme(request.user, pk)
    except NotFound:
        return None


@login_required
def programme_list(request):
    mine = list(access.programmes_visible_to(request.user).order_by("starts_on", "name"))
    if not mine and not access.is_admin(request.user):
        return render(request, "web/not_found.html", status=404)
    return render(request, "web/programmes/list.html", {"programmes": mine})


def _rows(programme: Programme) -> list[dict]:
    members = list(programme.members.select_related("profile").order_by("profile__name", "username", "pk"))
    return programmes.progress_rows(programme, members, today=programmes.today_for())


@login_required
def programme_detail(request, pk):
    programme = _programme_for(request, pk)
    if programme is None:
        return render(request, "web/not_found.html", status=404)
    rows = _rows(programme)
    for row in rows:
        row["cells"] = [(row[key], STATE_WORDS[row[key]["state"]], label) for key, label in MEASURES]
        row["overall"] = STATE_WORDS[row["state"]]
    rides: dict[int, list] = {}
    for ride in programmes.counted_ride_alongs(programme, [r["person"]["id"] for r in rows]):
        rides.setdefault(ride.person_id, []).append(ride)
    for row in rows:
        row["rides"] = rides.get(row["person"]["id"], [])
    context = {
        "programme": programme,
        "rows": rows,
        "measures": MEASURES,
        "chart": progress_chart(rows),
    }
    return render(request, "web/programmes/detail.html", context)


@login_required
def programme_csv(request, pk):
    programme = _programme_for(request, pk)
    if programme is None:
        return render(request, "web/not_found.html", status=404)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="programme-{programme.pk}.csv"'
    writer = csv.writer(response)
    header = [_("Member")]
    for _key, label in MEASURES:
        header += [label, _("%(measure)s target") % {"measure": label}, _("%(measure)s state") % {"measure": label}]
    writer.writerow([*header, _("State")])
    for row in _rows(programme):
        cells = [row["person"]["name"]]
        for key, _label in MEASURES:
            cells += [row[key]["done"], row[key]["target"], row[key]["state"] or ""]
        writer.writerow([safe_cell(c) for c in [*cells, row["state"] or ""]])
    return response


def my_progress(person) -> list[tuple[Programme, dict]]:
    """A member's own row in each of their programmes, for their learning log."""
    today = programmes.today_for()
    pairs = []
    for programme in Programme.objects.filter(members=person).order_by("starts_on", "id"):
        row = programmes.progress_rows(programme, [person], today=today)[0]
        row["cells"] = [(row[key], STATE_WORDS[row[key]["state"]], label) for key, label in MEASURES]
        pairs.append((programme, row))
    return pairs
