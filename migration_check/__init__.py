"""Refuses a migration that would break the release still serving (expand/contract): the
merge base's API code must keep working on the schema the new migrations leave."""
