"""``python -m cost``: the monthly always-on cost floor of every environment in cdk.out.

Exit status: 0; 1 when a resource could not be priced (the floor would be too low); 2 when
cdk.out or the price file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cost.estimate import estimate
from cost.prices import PriceFileError, load_prices
from cost.report import group_estimates, render_json, render_text
from cost.templates import CdkOutError, load_assemblies

EXIT_UNPRICED = 1
EXIT_UNREADABLE = 2


def _environment_names() -> tuple[str, ...]:
    """The configured environments, to order the report and tell them from account stacks."""
    try:
        from stacks.config import APP_CONFIG  # lazily: the report also works outside the repo
    except ImportError:
        return ()
    return APP_CONFIG.environment_names


def _first_of_each_account() -> frozenset[str]:
    """The environments that get their account's always-free allowances (the first in
    config order of each account; the allowances are per account)."""
    try:
        from stacks.config import APP_CONFIG
    except ImportError:
        return frozenset()
    return frozenset(envs[0].name for envs in APP_CONFIG.accounts().values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cost",
        description="Monthly always-on AWS cost floor per environment, from cdk.out templates.",
    )
    parser.add_argument(
        "--cdk-out",
        type=Path,
        default=Path("cdk.out"),
        metavar="DIR",
        help="the synthesized cloud assembly (default: cdk.out)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)

    try:
        prices = load_prices()
        assemblies = load_assemblies(args.cdk_out)
    except (CdkOutError, PriceFileError) as error:
        print(f"cost: error: {error}", file=sys.stderr)
        return EXIT_UNREADABLE

    first = _first_of_each_account()
    estimates = [
        estimate(assembly, prices, free_tier=assembly.name in first) for assembly in assemblies
    ]
    names = _environment_names() or tuple(e.name for e in estimates)
    environments, account_level = group_estimates(estimates, names)
    render = render_json if args.json else render_text
    sys.stdout.write(render(environments, account_level, prices))

    unpriced = [u for e in estimates for u in e.unpriced]
    if unpriced:
        types = ", ".join(sorted({u.resource_type for u in unpriced}))
        print(
            f"cost: error: {len(unpriced)} resource(s) not priced ({types}); "
            "classify them in cost/billing.py or price them in cost/rules.py",
            file=sys.stderr,
        )
        return EXIT_UNPRICED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
