"""What ``python -m local_stack`` runs: ``--shape`` / ``SHAPE`` (today's three tiers, or the S3M
shape) and ``--engine`` / ``ENGINE`` (the API's database family); a flag wins over the variable,
and a value that is neither is one line of error."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from enum import StrEnum

from api.dialects import FAMILIES


class Shape(StrEnum):
    """Today's three tiers, or the S3M shape."""

    DEFAULT = "default"
    SPA = "spa"


def requested(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[Shape, str]:
    """(shape, engine family) from the flags, else SHAPE and ENGINE, else the defaults."""
    parser = argparse.ArgumentParser(prog="python -m local_stack")
    choices = {"shape": [shape.value for shape in Shape], "engine": list(FAMILIES)}
    for name, values in choices.items():
        parser.add_argument(
            f"--{name}", choices=values, default=environ.get(name.upper()) or values[0]
        )
    args = parser.parse_args(argv)
    for name, values in choices.items():
        value = getattr(args, name)
        if value not in values:  # a variable's value: argparse checks only the flags'
            parser.error(f"{name.upper()} must be one of {', '.join(values)}, not {value!r}")
    return Shape(args.shape), args.engine
