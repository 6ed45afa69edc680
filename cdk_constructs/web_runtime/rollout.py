"""How the deploy workflow rolls a new image out (pure Python: no aws_cdk import)."""

from enum import StrEnum


class Rollout(StrEnum):
    """Emitted by the web stack as its ``Rollout`` output; the deploy workflow reads it
    (``python -m stacks.delivery web-outputs`` writes ``rollout=<value>`` to ``$GITHUB_ENV``)
    and runs the steps for that value only."""

    CLOUDFORMATION = "cloudformation"
    """The stack update itself rolls the new image out (a new task definition, ...)."""
    APP_RUNNER_START_DEPLOYMENT = "app_runner_start_deployment"
    """Automatic deployments are off: the workflow calls App Runner's StartDeployment after the
    stack update and waits for the operation to succeed."""
