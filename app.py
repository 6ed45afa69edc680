#!/usr/bin/env python3
"""CDK entry point: one Stage per environment from ``stacks/config.py``.

``-c env=NAME`` synthesizes only that environment (what ``make deploy`` and ``make diff`` use).
"""

import sys

from aws_cdk import App

from stacks.config import APP_CONFIG, ConfigError, validate_app_config
from stacks.platform_app import build_platform, unacknowledged_findings


def main() -> None:
    app = App()
    try:
        validate_app_config(APP_CONFIG)
        environments = APP_CONFIG.select(app.node.try_get_context("env"))
    except ConfigError as error:
        sys.exit(str(error))
    build_platform(app, APP_CONFIG, environments)
    assembly = app.synth()
    findings = unacknowledged_findings(assembly.directory)
    if findings:
        sys.exit("\n".join(["unacknowledged validation findings:", *findings]))


if __name__ == "__main__":
    main()
