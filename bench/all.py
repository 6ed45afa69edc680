"""``make bench``: synth times beside an empty CDK app, ``make test``'s wall time, the API's cold
start and the API benchmark, in one table (progress on stderr while it runs)."""

from __future__ import annotations

import argparse

from bench import api_bench, cold_start, synth_bench
from bench.synth_bench import progress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="API requests per row")
    parser.add_argument("--synth-runs", type=int, default=3, help="synth runs per figure")
    parser.add_argument(
        "--skip-make-test", action="store_true", help="leave out the `make test` row"
    )
    args = parser.parse_args()
    rows = synth_bench.rows(args.synth_runs)
    if not args.skip_make_test:
        rows.append(synth_bench.make_test_row())
    progress("API cold start...")
    rows += cold_start.rows()
    progress("API benchmark...")
    rows += api_bench.run(args.requests)
    print(
        api_bench.render(
            ("metric", "value", "baseline or target", "ratio"),
            rows,
            [
                f"synth: median of {args.synth_runs} `npx cdk synth` runs; baseline = an empty "
                "CDK app (one stack, one no-op resource) on the same CLI and cdk.json; "
                "`make test`: one warm run",
                (cold_start.__doc__ or "").splitlines()[0],
                api_bench.caption(args.requests) + "; baseline = direct SQL",
            ],
        )
    )


if __name__ == "__main__":
    main()
