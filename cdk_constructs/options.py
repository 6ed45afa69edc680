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


class WebRuntime(StrEnum):
    """What runs the public web container."""

    FARGATE = "fargate"
    """ECS Fargate tasks behind an internet-facing ALB (default)."""
    APP_RUNNER = "app_runner"
    """App Runner with a VPC connector (closed to new AWS customers since 2026-04-30)."""
    EC2 = "ec2"
    """An EC2 Auto Scaling group (Graviton, AL2023) running the container behind an ALB."""
    EXPRESS = "express"
    """Amazon ECS Express Mode (``AWS::ECS::ExpressGatewayService``), App Runner's successor."""
    STATIC_SITE = "static_site"
    """A single-page app's files in a private S3 bucket behind CloudFront (no container); its
    distribution also routes ``/api/*`` to the public services API (``ApiKind.PUBLIC_SERVICES``)."""


class ApiKind(StrEnum):
    """The shape of the API tier."""

    PRIVATE_LAMBDA = "private_lambda"
    """The items function behind a private REST API, Cognito client-credentials scopes (default)."""
    PUBLIC_SERVICES = "public_services"
    """A public regional REST API whose Lambda authorizer checks the users' JWT and their roles,
    in front of Fargate microservices reached through a VPC link and an internal NLB."""


class AuthorizerType(StrEnum):
    """The API Gateway Lambda authorizer type of the public services API."""

    TOKEN = "token"  # noqa: S105  # an authorizer type, not a secret
    """The authorizer gets the Authorization header's value only."""
    REQUEST = "request"
    """The authorizer gets the request's headers, path and method (the cache key is still the
    Authorization header)."""


class MfaMode(StrEnum):
    """Multi-factor sign-in of the users (TOTP authenticator apps: no SMS role or spend)."""

    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


class WebReleaseStrategy(StrEnum):
    """How a new web release takes traffic (ECS deployment strategies on Fargate)."""

    ROLLING = "rolling"
    """New tasks replace old ones in place; the circuit breaker and the release alarms roll back."""
    CANARY = "canary"
    """A share of traffic goes to the new release, bakes, then the rest follows."""
    LINEAR = "linear"
    """Traffic moves in equal steps, baking after each."""
    BLUE_GREEN = "blue_green"
    """A full new fleet is tested on the test listener, takes all traffic at once, and the old
    one stays ready for the bake time."""


class ApiReleaseStrategy(StrEnum):
    """How a new API function version takes traffic from its alias (CodeDeploy)."""

    ALL_AT_ONCE = "all_at_once"
    """The alias moves at once, after the pre-traffic health check."""
    CANARY = "canary"
    """A share of invocations goes to the new version for an interval, then all."""
    LINEAR = "linear"
    """Equal shares every interval."""


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

EC2_INSTANCE_TYPES: dict[tuple[int, int], str] = {
    (256, 512): "t4g.small",
    (256, 1024): "t4g.small",
    (512, 1024): "t4g.small",
    (1024, 2048): "t4g.medium",
    (1024, 3072): "t4g.medium",
    (1024, 4096): "t4g.large",
    (2048, 4096): "t4g.large",
    (2048, 6144): "t4g.large",
    (4096, 8192): "t4g.xlarge",
    (4096, 12288): "t4g.xlarge",
}
"""The EC2 runtime: the web container's (CPU units, memory MiB), its hard limits as on Fargate,
-> the Graviton burstable instance that runs it, the smallest T4g with the vCPUs and at least
1 GiB more memory than the container (AL2023, Docker and the SSM agent): t4g.small 2 vCPU 2 GiB,
medium 2/4, large 2/8, xlarge 4/16
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/burstable-performance-instances.html)."""
EC2_CPU_MEMORY: dict[int, tuple[int, ...]] = {
    cpu: tuple(memory for size, memory in EC2_INSTANCE_TYPES if size == cpu)
    for cpu in dict.fromkeys(cpu for cpu, _ in EC2_INSTANCE_TYPES)
}
"""CPU units -> the memory sizes (MiB) the EC2 runtime offers with it."""

EXPRESS_MAX_CPU = 4096
EXPRESS_MAX_MEMORY_MIB = 8192
EXPRESS_CPU_MEMORY: dict[int, tuple[int, ...]] = {
    cpu: tuple(memory for memory in memories if memory <= EXPRESS_MAX_MEMORY_MIB)
    for cpu, memories in FARGATE_CPU_MEMORY.items()
    if cpu <= EXPRESS_MAX_CPU
}
"""CPU units -> the memory sizes (MiB) an ECS Express Mode service is given here: Fargate's sizes
up to 4 vCPU and 8 GiB. Express runs on Fargate; no AWS page found states bounds of its own, and
the only ones published are these (the Terraform provider's aws_ecs_express_gateway_service:
"powers of 2 between 256 and 4096", memory "between 512 and 8192"), so config offers no more."""


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


class ComplianceProfile(StrEnum):
    """An extra cdk-nag rule pack an environment is checked against at synth."""

    NONE = "none"
    NIST_800_53_R5 = "nist-800-53-r5"
    """cdk-nag's NIST 800-53 rev. 5 pack (``NIST80053R5Checks``)."""


class ProtectedKind(StrEnum):
    """Deletion-protected resource types whose protection a failed first create must lift
    (``CreateRollbackGuard``; the guard function has the same names)."""

    RDS_CLUSTER = "rds-cluster"
    RDS_INSTANCE = "rds-instance"
    LOAD_BALANCER = "load-balancer"
    DYNAMODB_TABLE = "dynamodb-table"
    USER_POOL = "user-pool"


OPERATOR_ACCESS_TAG = "operator-access"
"""The tag of an environment's access instance (value ``<app>-<env>``): the operators policy
starts it and starts port forwards on instances with it only, and ``make cost`` prices such an
instance's hours as usage (it stops itself when idle) and its disk in the floor."""
