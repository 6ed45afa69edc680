"""Lifts deletion protection when a stack's first create rolls back (see handler)."""
