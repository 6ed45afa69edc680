#!/usr/bin/env python3
"""CDK entry point: one Stage per environment from ``stacks/config/environments.py``.

``-c env=NAME`` synthesizes only that environment (what ``make deploy`` and ``make diff`` use),
plus the GitHub OIDC stack of its account; ``-c web_image_tag=TAG`` / ``-c api_image_tag=TAG`` /
``-c services_image_tag=TAG`` (every microservice)
override that environment's image tags (what the deploy workflow passes).

A bad config value exits with its one line, never a traceback: one in the environments raises
while ``stacks.config`` is imported below, and ``stacks.config`` prints it (its excepthook);
one in the context (``-c ...``) raises in ``main``, which prints it.
"""

import atexit
import os
import sys
from typing import NoReturn

from aws_cdk import App

from cdk_constructs.options import Image
from stacks.config import APP_CONFIG, ConfigError, validate_app_config
from stacks.config.schema import SERVICES_IMAGE
from stacks.platform_app import build_platform, unacknowledged_findings


def main() -> None:
    app = App()
    requested = app.node.try_get_context("env")
    try:
        # The deploy workflow passes the images it just pushed: -c web_image_tag=<sha> ...
        config = APP_CONFIG.with_image_tags(
            requested,
            {image: app.node.try_get_context(f"{image}_image_tag") for image in Image},
            services_tag=app.node.try_get_context(f"{SERVICES_IMAGE}_image_tag"),
        )
        validate_app_config(config)
        environments = config.select(requested)
    except ConfigError as error:
        sys.exit(str(error))
    build_platform(app, config, environments)
    assembly = app.synth()
    findings = unacknowledged_findings(assembly.directory)
    if findings:
        sys.exit("\n".join(["unacknowledged validation findings:", *findings]))


def exit_without_teardown() -> NoReturn:
    """End the process once the exit hooks ran (jsii stops its node process and deletes its
    runtime's files), skipping the interpreter's teardown of aws-cdk-lib's Python modules: that
    teardown frees nothing the system would not, and took ~0.5 s of every synth."""
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(0)


if __name__ == "__main__":
    main()
    exit_without_teardown()  # reached on success only: failures exit with their line above
