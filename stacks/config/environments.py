"""The environments, the values to edit: what gets deployed where.

Every value is checked when this module is imported: a bad one stops every command (``make
synth``, ``make deploy``, ``python -m stacks.config check``, ...) with one line naming the
environment, the field and what is allowed. What each field means, takes and defaults to: the
README's configuration tables, or the sections in ``stacks/config/sections.py``.
"""

from __future__ import annotations

from cdk_constructs.data_engine.choices import DatabaseEngine
from cdk_constructs.options import (
    ApiKind,
    ApiReleaseStrategy,
    ComplianceProfile,
    Image,
    InterfaceEndpoint,
    NatMode,
    WebReleaseStrategy,
    WebRuntime,
)
from stacks.config.schema import AppConfig, EnvironmentConfig
from stacks.config.sections import (
    ApiConfig,
    ApiReleaseConfig,
    BackupConfig,
    DatabaseConfig,
    GitHubConfig,
    NetworkConfig,
    RegistryConfig,
    SecurityConfig,
    ServiceConfig,
    WebConfig,
    WebReleaseConfig,
)

APP_CONFIG = AppConfig(
    app_name="three-tier",
    github=GitHubConfig(
        repository="example-org/serverless-three-tier",
        image_sources={Image.WEB: "web_app"},
    ),
    environments=(
        EnvironmentConfig(
            name="dev",
            account="111111111111",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="dev",
            alert_email="alerts-dev@example.com",
            log_retention_days=14,
            retain_data=False,
            network=NetworkConfig(
                vpc_cidr="10.10.0.0/16",
                nat_mode=NatMode.INSTANCE,
                interface_endpoints=(InterfaceEndpoint.EXECUTE_API,),
            ),
            database=DatabaseConfig(
                min_capacity=0,
                max_capacity=2,
                auto_pause_minutes=10,
                readers=0,
                proxy=False,
                backup_retention_days=1,
            ),
            # 25 s: the first request after an auto-pause waits for the cluster to resume.
            api=ApiConfig(
                memory_mb=512, timeout_seconds=25, throttle_rate_limit=20, throttle_burst_limit=40
            ),
            web=WebConfig(spot=True, min_instances=1, max_instances=1, canary_interval_minutes=60),
            registry=RegistryConfig(keep_tagged_images=10),
        ),
        EnvironmentConfig(
            name="staging",
            account="222222222222",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="staging",
            alert_email="alerts-staging@example.com",
            log_retention_days=30,
            retain_data=False,
            network=NetworkConfig(
                vpc_cidr="10.20.0.0/16",
                nat_mode=NatMode.SINGLE_GATEWAY,
                interface_endpoints=(
                    InterfaceEndpoint.EXECUTE_API,
                    InterfaceEndpoint.SECRETS_MANAGER,
                    InterfaceEndpoint.LOGS,
                ),
            ),
            database=DatabaseConfig(
                min_capacity=0.5,
                max_capacity=4,
                readers=0,
                proxy=True,
                backup_retention_days=7,
            ),
            api=ApiConfig(
                memory_mb=512,
                timeout_seconds=10,
                throttle_rate_limit=50,
                throttle_burst_limit=100,
                release=ApiReleaseConfig(
                    strategy=ApiReleaseStrategy.CANARY, percent=10, interval_minutes=5
                ),
            ),
            web=WebConfig(
                min_instances=1,
                max_instances=2,
                canary_interval_minutes=15,
                # 10% of requests for 5 minutes, then all; the old tasks stand by 10 more (the
                # release watches at least one canary run).
                release=WebReleaseConfig(
                    strategy=WebReleaseStrategy.CANARY,
                    step_percent=10,
                    step_bake_minutes=5,
                    bake_minutes=10,
                ),
            ),
            registry=RegistryConfig(keep_tagged_images=20),
        ),
        EnvironmentConfig(
            name="prod",
            account="333333333333",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="main",
            alert_email="alerts-prod@example.com",
            log_retention_days=365,
            retain_data=True,
            network=NetworkConfig(
                vpc_cidr="10.30.0.0/16",
                nat_mode=NatMode.GATEWAY_PER_AZ,
                interface_endpoints=(
                    InterfaceEndpoint.EXECUTE_API,
                    InterfaceEndpoint.SECRETS_MANAGER,
                    InterfaceEndpoint.KMS,
                    InterfaceEndpoint.LOGS,
                    InterfaceEndpoint.MONITORING,
                    InterfaceEndpoint.ECR_API,
                    InterfaceEndpoint.ECR_DOCKER,
                    InterfaceEndpoint.STS,
                    InterfaceEndpoint.XRAY,
                ),
            ),
            database=DatabaseConfig(
                min_capacity=0.5,
                max_capacity=16,
                readers=1,
                proxy=True,
                backup_retention_days=30,
                enhanced_monitoring_interval_seconds=60,
            ),
            api=ApiConfig(
                memory_mb=1024,
                timeout_seconds=10,
                # No reservation: Lambda keeps 100 executions of the account unreserved, so a
                # reservation fails on a new account's low quota (see ApiConfig).
                reserved_concurrency=None,
                throttle_rate_limit=200,
                throttle_burst_limit=400,
                release=ApiReleaseConfig(
                    strategy=ApiReleaseStrategy.CANARY, percent=10, interval_minutes=10
                ),
            ),
            web=WebConfig(
                cpu=512,
                memory_mib=1024,
                min_instances=2,
                max_instances=6,
                waf=True,
                domain_name="www.example.com",
                hosted_zone_id="Z0123456789EXAMPLE0",
                hosted_zone_name="example.com",
                canary_interval_minutes=5,
                # A full green fleet, tested on the test listener, takes all traffic; blue
                # stands by for 15 minutes (three canary runs) with the release alarms watched.
                release=WebReleaseConfig(strategy=WebReleaseStrategy.BLUE_GREEN, bake_minutes=15),
            ),
            registry=RegistryConfig(keep_tagged_images=50),
            # Daily AWS Backup points kept 35 days, restore-tested every Monday (README:
            # Backups and restore); dev and staging follow retain_data (off).
            backup=BackupConfig(enabled=True, retention_days=35, restore_test=True),
            # Synth also runs cdk-nag's NIST 800-53 rev. 5 pack on prod (EXCEPTIONS.md).
            security=SecurityConfig(compliance=ComplianceProfile.NIST_800_53_R5),
        ),
        # The second shape (README: Choosing a shape): a single-page app on S3 + CloudFront, users
        # signing in with Cognito, a public REST API whose Lambda authorizer checks their JWT
        # and roles, and two Fargate microservices behind a VPC link. In eu-west-1, so the
        # site's certificate and WAF live in the us-east-1 edge stack.
        EnvironmentConfig(
            name="spa",
            account="111111111111",
            region="eu-west-1",
            availability_zones=("eu-west-1a", "eu-west-1b"),
            branch="spa",
            alert_email="alerts-spa@example.com",
            log_retention_days=14,
            retain_data=False,
            network=NetworkConfig(vpc_cidr="10.40.0.0/16", nat_mode=NatMode.INSTANCE),
            # The instance-engine example: one RDS for PostgreSQL instance with a Multi-AZ
            # standby, behind RDS Proxy (IAM end to end), as seed 003's data tier.
            database=DatabaseConfig(
                engine=DatabaseEngine.POSTGRES,
                instance_class="t4g.small",
                multi_az=True,
                proxy=True,
                backup_retention_days=1,
            ),
            api=ApiConfig(
                kind=ApiKind.PUBLIC_SERVICES,
                throttle_rate_limit=20,
                throttle_burst_limit=40,
                services=(
                    ServiceConfig(
                        name="items",
                        path_prefix="items",
                        source="services/items",
                        port=8080,
                        database=True,
                    ),
                    ServiceConfig(name="me", path_prefix="me", source="services/me", port=8081),
                ),
                # Readers list and read; admins do everything (make roles grants the roles).
                route_roles={
                    "GET /items": ("reader", "admin"),
                    "* /items": ("admin",),
                    "GET /me": ("reader", "admin"),
                },
            ),
            web=WebConfig(
                runtime=WebRuntime.STATIC_SITE,
                domain_name="app.example.com",
                hosted_zone_id="Z0123456789EXAMPLE1",
                hosted_zone_name="example.com",
                waf=True,
                canary_interval_minutes=60,
            ),
            registry=RegistryConfig(keep_tagged_images=10),
        ),
        # The MySQL example (seed 002's shape): Fargate web, the private Lambda API and one
        # RDS for MySQL 8.4 instance, production-like (retained, rotated, deletion-protected).
        # No proxy: the function logs in to the instance with IAM directly.
        EnvironmentConfig(
            name="classic",
            account="444444444444",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="classic",
            alert_email="alerts-classic@example.com",
            log_retention_days=90,
            retain_data=True,
            network=NetworkConfig(
                vpc_cidr="10.50.0.0/16",
                nat_mode=NatMode.SINGLE_GATEWAY,
                interface_endpoints=(InterfaceEndpoint.EXECUTE_API,),
            ),
            database=DatabaseConfig(
                engine=DatabaseEngine.MYSQL,
                instance_class="t4g.micro",
                allocated_storage_gib=20,
                max_allocated_storage_gib=100,
                proxy=False,
                backup_retention_days=7,
            ),
            api=ApiConfig(throttle_rate_limit=50, throttle_burst_limit=100),
            web=WebConfig(
                min_instances=2,
                max_instances=4,
                domain_name="classic.example.com",
                hosted_zone_id="Z0123456789EXAMPLE2",
                hosted_zone_name="example.com",
                canary_interval_minutes=15,
            ),
            registry=RegistryConfig(keep_tagged_images=20),
        ),
        # Seed 003's shape: the web container on an EC2 Auto Scaling group (Graviton, AL2023,
        # rolling instance refresh) behind an ALB, the private Lambda API, and a Multi-AZ RDS
        # for PostgreSQL instance; reached by operators through Systems Manager only (make
        # db-tunnel, make shell), never SSH. Production-like: retained and rotated.
        EnvironmentConfig(
            name="ec2",
            account="555555555555",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="ec2",
            alert_email="alerts-ec2@example.com",
            log_retention_days=90,
            retain_data=True,
            network=NetworkConfig(
                vpc_cidr="10.60.0.0/16",
                nat_mode=NatMode.GATEWAY_PER_AZ,
                interface_endpoints=(InterfaceEndpoint.EXECUTE_API,),
            ),
            database=DatabaseConfig(
                engine=DatabaseEngine.POSTGRES,
                instance_class="t4g.small",
                multi_az=True,
                proxy=False,
                backup_retention_days=7,
            ),
            api=ApiConfig(throttle_rate_limit=50, throttle_burst_limit=100),
            web=WebConfig(
                runtime=WebRuntime.EC2,
                cpu=512,
                memory_mib=1024,
                min_instances=2,
                max_instances=4,
                domain_name="servers.example.com",
                hosted_zone_id="Z0123456789EXAMPLE3",
                hosted_zone_name="example.com",
                canary_interval_minutes=15,
            ),
            registry=RegistryConfig(keep_tagged_images=20),
        ),
        # ECS Express Mode, App Runner's successor: the web container as an Express service in
        # the app subnets, whose internal load balancer users reach through CloudFront (a VPC
        # origin), with the domain and the WAF there; Aurora PostgreSQL Serverless v2 (IAM
        # login, no proxy) and the private Lambda API. The shape an App Runner environment
        # moves to (README: web tier, Express).
        EnvironmentConfig(
            name="express",
            account="666666666666",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="express",
            alert_email="alerts-express@example.com",
            log_retention_days=30,
            retain_data=False,
            network=NetworkConfig(
                vpc_cidr="10.70.0.0/16",
                nat_mode=NatMode.SINGLE_GATEWAY,
                interface_endpoints=(InterfaceEndpoint.EXECUTE_API,),
            ),
            database=DatabaseConfig(
                min_capacity=0.5, max_capacity=4, readers=0, proxy=False, backup_retention_days=7
            ),
            api=ApiConfig(throttle_rate_limit=50, throttle_burst_limit=100),
            web=WebConfig(
                runtime=WebRuntime.EXPRESS,
                cpu=512,
                memory_mib=1024,
                min_instances=1,
                max_instances=3,
                waf=True,
                domain_name="express.example.com",
                hosted_zone_id="Z0123456789EXAMPLE4",
                hosted_zone_name="example.com",
                canary_interval_minutes=15,
            ),
            registry=RegistryConfig(keep_tagged_images=20),
        ),
    ),
)
