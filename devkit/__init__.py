"""Helpers for running the platform's code on one machine: a throwaway PostgreSQL, the schema,
the API function's environment and the events API Gateway sends it.

Shared by the tests, the benchmarks and ``make local``. Nothing here imports aws_cdk (or jsii),
so ``make local`` starts quickly and exits cleanly; this module itself imports nothing, so the
cold-start probe that uses ``devkit.events`` loads nothing the function would not.
"""
