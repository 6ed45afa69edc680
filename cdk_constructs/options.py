"""Choices the constructs accept, as enums (pure Python: config validation imports this cheaply)."""

from dataclasses import dataclass
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


class WebRuntime(StrEnum):
    """What runs the public web container."""

    FARGATE = "fargate"
    """ECS Fargate tasks behind an internet-facing ALB (default)."""
    APP_RUNNER = "app_runner"
    """App Runner with a VPC connector (closed to new AWS customers since 2026-04-30)."""


class CpuArchitecture(StrEnum):
    """The CPU architecture a container runs on (the values of ECS ``RuntimePlatform``)."""

    ARM64 = "ARM64"
    """Graviton: about 20% cheaper per vCPU-hour on Fargate, but not on Fargate Spot."""
    X86_64 = "X86_64"
    """What Fargate Spot and App Runner run."""

    @property
    def docker_platform(self) -> str:
        """The ``docker buildx build --platform`` an image for this architecture needs."""
        return "linux/arm64" if self is CpuArchitecture.ARM64 else "linux/amd64"


FARGATE_CPU_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
"""CPU units -> the memory sizes (MiB) Fargate offers with it."""

APP_RUNNER_CPU_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024),
    512: (1024,),
    1024: (2048, 3072, 4096),
    2048: (4096, 6144),
    4096: (8192, 10240, 12288),
}
"""CPU units -> the memory sizes (MiB) App Runner offers with it."""


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


class Image(StrEnum):
    """The container images an environment can run; each has an ECR repository."""

    API = "api"
    """The API function, as a Lambda container image (linux/arm64)."""
    WEB = "web"
    """The public web app, built for its service's ``WebConfig.cpu_architecture`` (linux/arm64
    on Fargate, linux/amd64 on Fargate Spot and App Runner)."""


@dataclass(frozen=True)
class AlarmThresholds:
    """Every alarm threshold of an environment, in one place (``PlatformMonitoring`` turns them
    into alarms on the env's alerts topic; config sets them per environment)."""

    api_5xx_rate_percent: float = 5.0
    """API Gateway 5XX responses as a share of requests, per 5 minutes."""
    api_p99_latency_ms: int = 3000
    """API Gateway p99 latency, per 5 minutes."""
    lambda_errors: int = 5
    """Function errors per 5 minutes."""
    lambda_throttles: int = 1
    """Throttled invocations per 5 minutes."""
    lambda_duration_percent_of_timeout: int = 80
    """Maximum duration as a share of the function's timeout."""
    aurora_cpu_percent: int = 80
    aurora_acu_utilization_percent: int = 90
    """ACUs in use as a share of the maximum: the cluster is about to hit its ceiling."""
    aurora_connections: int = 400
    proxy_client_connections: int = 500
    dynamodb_throttles: int = 1
    dynamodb_system_errors: int = 1
    web_5xx: int = 10
    """ALB (or App Runner) 5XX responses per 5 minutes."""
    unhealthy_targets: int = 1


RESOURCE_SERVER_ID = "api"
"""The Cognito resource server of the items API: scopes read ``api/items.read``."""


class ApiScope(StrEnum):
    """Scopes of the ``api`` resource server; reads need ``items.read``, writes ``items.write``."""

    ITEMS_READ = "items.read"
    ITEMS_WRITE = "items.write"

    @property
    def token_scope(self) -> str:
        """The scope as it appears in tokens and authorizers: ``api/items.read``."""
        return f"{RESOURCE_SERVER_ID}/{self.value}"


@dataclass(frozen=True)
class ApiRoute:
    """One route of the items API and the scope its token must carry."""

    path: str
    """``{x}`` marks a path parameter."""
    method: str
    scope: ApiScope


API_ROUTES = (
    ApiRoute("/health", "GET", ApiScope.ITEMS_READ),
    ApiRoute("/items", "GET", ApiScope.ITEMS_READ),
    ApiRoute("/items", "POST", ApiScope.ITEMS_WRITE),
    ApiRoute("/items/{id}", "GET", ApiScope.ITEMS_READ),
    ApiRoute("/items/{id}", "PUT", ApiScope.ITEMS_WRITE),
    ApiRoute("/items/{id}", "DELETE", ApiScope.ITEMS_WRITE),
)
"""The API's routes: the API stack deploys them with a Cognito authorizer each, the local
stack (``make local``) enforces the same scopes."""


class ProtectedKind(StrEnum):
    """Deletion-protected resource types whose protection a failed first create must lift
    (``CreateRollbackGuard``; the guard function has the same names)."""

    RDS_CLUSTER = "rds-cluster"
    LOAD_BALANCER = "load-balancer"
    DYNAMODB_TABLE = "dynamodb-table"
    USER_POOL = "user-pool"
