"""Refuses a migration that would break the release still serving (expand/contract): the
merge base's API code must keep working on the schema the new migrations leave.

``base`` reads BASE with git, ``check`` runs both migration sets and the old API's smoke
(``devkit/smoke.py``) on a database it is given, ``report`` words the outcome, and
``__main__`` is ``make check-migrations`` on a throwaway PostgreSQL."""
