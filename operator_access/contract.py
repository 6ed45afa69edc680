"""What the commands read of a deployed environment: stack tiers, output keys, the web
container's name, the tag of the EC2 runtime's instances and the Session Manager documents.
The stacks define these (``stacks/data_stack.py``, ``stacks/web_stack.py``); keep both sides
equal."""

from __future__ import annotations

from release.contract import SERVICE_ID_OUTPUT
from stacks.config import AppConfig, EnvironmentConfig

DATA_TIER = "data"
WEB_TIER = "web"

# The data stack's outputs.
ACCESS_INSTANCE_OUTPUT = "AccessInstanceId"
"""The access instance (SSM managed, no inbound rules) the tunnel goes through."""
ENDPOINT_OUTPUT = "DatabaseEndpoint"
"""The clients' endpoint: the proxy where there is one, else the writer."""
ADMIN_ENDPOINT_OUTPUT = "DatabaseAdminEndpoint"
"""The writer itself: the master user's password login never goes through the proxy."""
PORT_OUTPUT = "DatabasePort"
FAMILY_OUTPUT = "DatabaseEngineFamily"
"""``postgresql`` or ``mysql``."""
NAME_OUTPUT = "DatabaseName"
SECRET_OUTPUT = "DatabaseSecretArn"  # noqa: S105 (an output's name)
"""The master secret (JSON with ``username`` and ``password``)."""
READONLY_USER_OUTPUT = "DatabaseReadonlyUser"
"""The read-only database user that logs in with an IAM token."""

DATA_OUTPUTS = (
    ACCESS_INSTANCE_OUTPUT,
    ENDPOINT_OUTPUT,
    ADMIN_ENDPOINT_OUTPUT,
    PORT_OUTPUT,
    FAMILY_OUTPUT,
    NAME_OUTPUT,
    SECRET_OUTPUT,
    READONLY_USER_OUTPUT,
)
FAMILIES = ("postgresql", "mysql")

# The ops stack's outputs: the managed policies an operator's permission set attaches.
OPERATORS_POLICY_OUTPUT = "OperatorsPolicyArn"
"""``<app>-<env>-operators``: the tunnel (read-only) and the shell."""
DB_ADMINS_POLICY_OUTPUT = "DatabaseAdminsPolicyArn"
"""``<app>-<env>-db-admins``: reading the master secret (``ROLE=admin``), with the above."""

# The web stack's outputs.
SERVICE_OUTPUT = SERVICE_ID_OUTPUT
"""Fargate: the ECS service's ARN, ``...:service/<cluster>/<service>``; the EC2 runtime: its
Auto Scaling group's name (``<app>-<env>-web``)."""

WEB_CONTAINER = "web"
"""The container ``make shell`` opens its shell in (the Fargate task's; on the EC2 runtime the
shell document ``docker exec``s into the container of that name)."""
INSTANCE_TAG = "platform:web"
"""The EC2 runtime's instances carry it, valued the group's name (``web_runtime/ec2.py``
``INSTANCE_TAG``); the operators policy admits shell sessions on instances with it."""
PORT_FORWARD_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
"""AWS's own document (SSM Agent 3.1.1374.0 or later on the access instance)."""


def shell_document(app: AppConfig, env: EnvironmentConfig) -> str:
    """The EC2 runtime's session document: a shell in the web container of the instance."""
    return f"{app.app_name}-{env.name}-shell"
