"""Guards only PostgreSQL can hold: no overlapping held places per observer, no double-rostered
crew member, and an audit trail that refuses UPDATE and DELETE."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """ALTER TABLE scheduling_place ADD CONSTRAINT place_no_overlapping_held
       EXCLUDE USING gist (person_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
       WHERE (state = 'held')""",
    """ALTER TABLE scheduling_crewmember ADD CONSTRAINT crew_no_overlapping_shifts
       EXCLUDE USING gist (person_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
       WHERE (active)""",
    """ALTER TABLE scheduling_shift ADD CONSTRAINT shift_at_most_24_hours
       CHECK (ends_at - starts_at <= interval '24 hours')""",
    """CREATE OR REPLACE FUNCTION scheduling_audit_is_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit events are never changed or deleted'; END;
       $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER scheduling_auditevent_append_only BEFORE UPDATE OR DELETE ON scheduling_auditevent
       FOR EACH ROW EXECUTE FUNCTION scheduling_audit_is_append_only()""",
]

BACKWARD = [
    "DROP TRIGGER IF EXISTS scheduling_auditevent_append_only ON scheduling_auditevent",
    "DROP FUNCTION IF EXISTS scheduling_audit_is_append_only()",
    "ALTER TABLE scheduling_shift DROP CONSTRAINT IF EXISTS shift_at_most_24_hours",
    "ALTER TABLE scheduling_crewmember DROP CONSTRAINT IF EXISTS crew_no_overlapping_shifts",
    "ALTER TABLE scheduling_place DROP CONSTRAINT IF EXISTS place_no_overlapping_held",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
