"""Audit events stay append-only, except that their free-text note may be blanked after the retention
period (SPEC §13): the trigger lets through an UPDATE that changes nothing else."""

from django.db import migrations

FORWARD = [
    """CREATE OR REPLACE FUNCTION scheduling_audit_is_append_only() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'UPDATE' AND NEW.note = ''
            AND (NEW.id, NEW.booking_id, NEW.station_id, NEW.subject_id, NEW.at, NEW.actor_id, NEW.action,
                 NEW.from_status, NEW.to_status, NEW.code, NEW.actor_private)
                IS NOT DISTINCT FROM
                (OLD.id, OLD.booking_id, OLD.station_id, OLD.subject_id, OLD.at, OLD.actor_id, OLD.action,
                 OLD.from_status, OLD.to_status, OLD.code, OLD.actor_private)
         THEN
           RETURN NEW;
         END IF;
         RAISE EXCEPTION 'audit events are never changed or deleted';
       END;
       $$ LANGUAGE plpgsql""",
]

BACKWARD = [
    """CREATE OR REPLACE FUNCTION scheduling_audit_is_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit events are never changed or deleted'; END;
       $$ LANGUAGE plpgsql""",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0011_reflections_actions_feedback")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
