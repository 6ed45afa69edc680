"""Choices the constructs accept, as enums (pure Python: config validation imports this cheaply)."""

from enum import StrEnum


class NatMode(StrEnum):
    """How the app subnets reach the internet."""

    GATEWAY_PER_AZ = "gateway_per_az"
    """One NAT gateway in each AZ: no cross-AZ dependency (production)."""
    SINGLE_GATEWAY = "single_gateway"
    """One NAT gateway that both app subnets route to (cheaper, one AZ's failure cuts egress)."""
    INSTANCE = "instance"
    """One small ARM NAT instance (cheapest; for dev)."""


class SubnetGroup(StrEnum):
    """The three subnet tiers of the VPC, one subnet of each per AZ."""

    PUBLIC = "public"
    APP = "app"
    DB = "db"


class InterfaceEndpoint(StrEnum):
    """Interface VPC endpoints the network can create (value: the AWS service short name)."""

    EXECUTE_API = "execute-api"
    SECRETS_MANAGER = "secretsmanager"
    KMS = "kms"
    LOGS = "logs"
    MONITORING = "monitoring"
    ECR_API = "ecr.api"
    ECR_DOCKER = "ecr.dkr"
    STS = "sts"
    XRAY = "xray"
    SSM = "ssm"
    SSM_MESSAGES = "ssmmessages"
    EC2_MESSAGES = "ec2messages"
    LAMBDA = "lambda"
    RDS = "rds"
    SNS = "sns"
    SQS = "sqs"
    COGNITO_IDP = "cognito-idp"
    ECS = "ecs"
    ECS_AGENT = "ecs-agent"
    ECS_TELEMETRY = "ecs-telemetry"


class SslMode(StrEnum):
    """How a PostgreSQL client checks the server's TLS certificate (libpq ``sslmode``)."""

    VERIFY_FULL = "verify-full"
    """Encrypt and verify chain and host name (RDS Proxy's certificate chains to Amazon Root CA)."""
    REQUIRE = "require"
    """Encrypt only: the Aurora CA bundle is not in the Lambda runtime's trust store."""


LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip
"""Retention periods CloudWatch Logs accepts, in days."""
