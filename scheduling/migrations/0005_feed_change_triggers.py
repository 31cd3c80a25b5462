"""PostgreSQL triggers that note, per person, every write that can change their calendar feed.

Each row of `scheduling_feedchange` carries the writing transaction's id, so the feed view can tell
whether the database snapshot a cached ETag was computed in saw that write (SPEC §9: 304 on a match).
The triggers only insert; they take no row locks, so they add nothing to the lock order of §5.3.
"""

from django.db import migrations

FORWARD = [
    """CREATE OR REPLACE FUNCTION scheduling_feed_changed(persons bigint[]) RETURNS void AS $$
       INSERT INTO scheduling_feedchange (person_id, xid, at)
       SELECT DISTINCT p, pg_current_xact_id()::text, now() FROM unnest(persons) AS p WHERE p IS NOT NULL
       $$ LANGUAGE sql""",
    # Everyone whose feed can show a booking of the shift: requesters, observers, crew and leads.
    """CREATE OR REPLACE FUNCTION scheduling_shift_feed_persons(shift bigint) RETURNS bigint[] AS $$
       SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM scheduling_booking WHERE shift_id = shift) THEN '{}'::bigint[]
       ELSE array(
           SELECT requested_by_id FROM scheduling_booking WHERE shift_id = shift
           UNION SELECT person_id FROM scheduling_place WHERE shift_id = shift
           UNION SELECT person_id FROM scheduling_crewmember WHERE shift_id = shift
           UNION SELECT l.user_id FROM scheduling_station_leads l
                 JOIN scheduling_shift s ON s.station_id = l.station_id WHERE s.id = shift)
       END
       $$ LANGUAGE sql STABLE""",
    """CREATE OR REPLACE FUNCTION scheduling_booking_feed_changed() RETURNS trigger AS $$
       DECLARE
           rec scheduling_booking;
           approved boolean;
       BEGIN
           IF TG_OP = 'DELETE' THEN rec := OLD; ELSE rec := NEW; END IF;
           approved := rec.status = 'approved';
           IF TG_OP = 'UPDATE' THEN approved := approved OR OLD.status = 'approved'; END IF;
           PERFORM scheduling_feed_changed(array(
               SELECT rec.requested_by_id
               UNION SELECT person_id FROM scheduling_place WHERE booking_id = rec.id
               UNION SELECT person_id FROM scheduling_crewmember WHERE approved AND shift_id = rec.shift_id
               UNION SELECT l.user_id FROM scheduling_station_leads l
                     JOIN scheduling_shift s ON s.station_id = l.station_id WHERE approved AND s.id = rec.shift_id));
           RETURN NULL;
       END;
       $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION scheduling_place_feed_changed() RETURNS trigger AS $$
       BEGIN
           IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM scheduling_feed_changed(ARRAY[OLD.person_id]); END IF;
           IF TG_OP IN ('UPDATE', 'INSERT') THEN PERFORM scheduling_feed_changed(ARRAY[NEW.person_id]); END IF;
           RETURN NULL;
       END;
       $$ LANGUAGE plpgsql""",
    # Crew roles are in every booking's description, so a crew change touches the whole shift.
    """CREATE OR REPLACE FUNCTION scheduling_crew_feed_changed() RETURNS trigger AS $$
       BEGIN
           IF TG_OP IN ('UPDATE', 'DELETE') THEN
               PERFORM scheduling_feed_changed(scheduling_shift_feed_persons(OLD.shift_id) || CASE
                   WHEN EXISTS (SELECT 1 FROM scheduling_booking WHERE shift_id = OLD.shift_id)
                   THEN ARRAY[OLD.person_id] ELSE '{}'::bigint[] END);
           END IF;
           IF TG_OP IN ('UPDATE', 'INSERT') THEN
               PERFORM scheduling_feed_changed(scheduling_shift_feed_persons(NEW.shift_id));
           END IF;
           RETURN NULL;
       END;
       $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION scheduling_shift_feed_changed() RETURNS trigger AS $$
       BEGIN
           IF TG_OP = 'UPDATE' THEN
               PERFORM scheduling_feed_changed(scheduling_shift_feed_persons(NEW.id));
           END IF;
           -- A move between stations, or a deleted shift: the leads it leaves.
           PERFORM scheduling_feed_changed(array(
               SELECT user_id FROM scheduling_station_leads WHERE station_id = OLD.station_id));
           RETURN NULL;
       END;
       $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION scheduling_station_feed_changed() RETURNS trigger AS $$
       BEGIN
           PERFORM scheduling_feed_changed(array(
               SELECT b.requested_by_id FROM scheduling_booking b
                   JOIN scheduling_shift s ON s.id = b.shift_id WHERE s.station_id = NEW.id
               UNION SELECT p.person_id FROM scheduling_place p
                   JOIN scheduling_shift s ON s.id = p.shift_id WHERE s.station_id = NEW.id
               UNION SELECT c.person_id FROM scheduling_crewmember c
                   JOIN scheduling_shift s ON s.id = c.shift_id WHERE s.station_id = NEW.id
                   AND EXISTS (SELECT 1 FROM scheduling_booking b WHERE b.shift_id = s.id)
               UNION SELECT user_id FROM scheduling_station_leads WHERE station_id = NEW.id));
           RETURN NULL;
       END;
       $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION scheduling_resource_feed_changed() RETURNS trigger AS $$
       BEGIN
           PERFORM scheduling_feed_changed(scheduling_shift_feed_persons(s.id))
           FROM scheduling_shift s WHERE s.resource_id = NEW.id
           AND EXISTS (SELECT 1 FROM scheduling_booking b WHERE b.shift_id = s.id);
           RETURN NULL;
       END;
       $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION scheduling_lead_feed_changed() RETURNS trigger AS $$
       BEGIN
           IF TG_OP = 'DELETE' THEN PERFORM scheduling_feed_changed(ARRAY[OLD.user_id]);
           ELSE PERFORM scheduling_feed_changed(ARRAY[NEW.user_id]); END IF;
           RETURN NULL;
       END;
       $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER scheduling_booking_feed AFTER INSERT OR UPDATE OR DELETE ON scheduling_booking
       FOR EACH ROW EXECUTE FUNCTION scheduling_booking_feed_changed()""",
    """CREATE TRIGGER scheduling_place_feed AFTER INSERT OR UPDATE OR DELETE ON scheduling_place
       FOR EACH ROW EXECUTE FUNCTION scheduling_place_feed_changed()""",
    """CREATE TRIGGER scheduling_crew_feed AFTER INSERT OR UPDATE OR DELETE ON scheduling_crewmember
       FOR EACH ROW EXECUTE FUNCTION scheduling_crew_feed_changed()""",
    # The held-places counter changes with every booking and is not in any feed: left out.
    """CREATE TRIGGER scheduling_shift_feed AFTER UPDATE ON scheduling_shift FOR EACH ROW
       WHEN ((OLD.starts_at, OLD.ends_at, OLD.status, OLD.resource_id, OLD.station_id, OLD.updated_at)
             IS DISTINCT FROM (NEW.starts_at, NEW.ends_at, NEW.status, NEW.resource_id, NEW.station_id,
                               NEW.updated_at))
       EXECUTE FUNCTION scheduling_shift_feed_changed()""",
    """CREATE TRIGGER scheduling_shift_feed_gone AFTER DELETE ON scheduling_shift
       FOR EACH ROW EXECUTE FUNCTION scheduling_shift_feed_changed()""",
    """CREATE TRIGGER scheduling_station_feed AFTER UPDATE ON scheduling_station FOR EACH ROW
       WHEN ((OLD.name, OLD.address, OLD.timezone) IS DISTINCT FROM (NEW.name, NEW.address, NEW.timezone))
       EXECUTE FUNCTION scheduling_station_feed_changed()""",
    """CREATE TRIGGER scheduling_resource_feed AFTER UPDATE ON scheduling_resource FOR EACH ROW
       WHEN ((OLD.call_sign, OLD.station_id) IS DISTINCT FROM (NEW.call_sign, NEW.station_id))
       EXECUTE FUNCTION scheduling_resource_feed_changed()""",
    """CREATE TRIGGER scheduling_lead_feed AFTER INSERT OR DELETE ON scheduling_station_leads
       FOR EACH ROW EXECUTE FUNCTION scheduling_lead_feed_changed()""",
]

TRIGGERS = {
    "scheduling_booking_feed": "scheduling_booking",
    "scheduling_place_feed": "scheduling_place",
    "scheduling_crew_feed": "scheduling_crewmember",
    "scheduling_shift_feed": "scheduling_shift",
    "scheduling_shift_feed_gone": "scheduling_shift",
    "scheduling_station_feed": "scheduling_station",
    "scheduling_resource_feed": "scheduling_resource",
    "scheduling_lead_feed": "scheduling_station_leads",
}
FUNCTIONS = [
    "scheduling_booking_feed_changed()",
    "scheduling_place_feed_changed()",
    "scheduling_crew_feed_changed()",
    "scheduling_shift_feed_changed()",
    "scheduling_station_feed_changed()",
    "scheduling_resource_feed_changed()",
    "scheduling_lead_feed_changed()",
    "scheduling_shift_feed_persons(bigint)",
    "scheduling_feed_changed(bigint[])",
]
BACKWARD = [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in TRIGGERS.items()] + [
    f"DROP FUNCTION IF EXISTS {function}" for function in FUNCTIONS
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0004_feed_state")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
