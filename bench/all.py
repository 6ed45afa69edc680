"""``make bench``: synth times beside an empty CDK app, and the API benchmark, in one table."""

from __future__ import annotations

import argparse

from bench import api_bench, synth_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="API requests per row")
    parser.add_argument("--synth-runs", type=int, default=3, help="synth runs per figure")
    args = parser.parse_args()
    synth_rows = synth_bench.rows(args.synth_runs)
    api_rows = api_bench.run(args.requests)
    print(
        api_bench.render(
            ("metric", "value", "baseline", "ratio"),
            [*synth_rows, *api_rows],
            [
                f"synth: median of {args.synth_runs} `npx cdk synth` runs; baseline = an empty "
                "CDK app (one stack, one no-op resource) on the same CLI",
                api_bench.caption(args.requests) + "; baseline = direct SQL",
            ],
        )
    )


if __name__ == "__main__":
    main()
