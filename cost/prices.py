"""The dated price file: every list price the cost model uses, with its unit and source."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

PRICE_FILE = Path(__file__).with_name("prices_us-east-1.json")


class PriceId(StrEnum):
    """Keys of the ``prices`` section of the price file."""

    NAT_GATEWAY_HOUR = "nat_gateway_hour"
    NAT_GATEWAY_DATA_GB = "nat_gateway_data_gb"
    PUBLIC_IPV4_HOUR = "public_ipv4_hour"
    INTERFACE_ENDPOINT_AZ_HOUR = "interface_endpoint_az_hour"
    INTERFACE_ENDPOINT_DATA_GB = "interface_endpoint_data_gb"
    EC2_DETAILED_MONITORING_METRIC_MONTH = "ec2_detailed_monitoring_metric_month"
    EBS_GP3_GB_MONTH = "ebs_gp3_gb_month"
    EBS_GP2_GB_MONTH = "ebs_gp2_gb_month"
    AURORA_SERVERLESS_V2_ACU_HOUR = "aurora_serverless_v2_acu_hour"
    AURORA_IO_OPTIMIZED_ACU_HOUR = "aurora_io_optimized_acu_hour"
    AURORA_STORAGE_GB_MONTH = "aurora_storage_gb_month"
    AURORA_IO_OPTIMIZED_STORAGE_GB_MONTH = "aurora_io_optimized_storage_gb_month"
    AURORA_IO_MILLION = "aurora_io_million"
    AURORA_BACKUP_GB_MONTH = "aurora_backup_gb_month"
    RDS_PROXY_SERVERLESS_ACU_HOUR = "rds_proxy_serverless_acu_hour"
    RDS_PROXY_VCPU_HOUR = "rds_proxy_vcpu_hour"
    RDS_GP3_SINGLE_AZ_GB_MONTH = "rds_gp3_single_az_gb_month"
    RDS_GP3_MULTI_AZ_GB_MONTH = "rds_gp3_multi_az_gb_month"
    RDS_BACKUP_GB_MONTH = "rds_backup_gb_month"
    RDS_CPU_CREDIT_VCPU_HOUR = "rds_cpu_credit_vcpu_hour"
    ALB_HOUR = "alb_hour"
    ALB_LCU_HOUR = "alb_lcu_hour"
    NLB_HOUR = "nlb_hour"
    NLB_NLCU_HOUR = "nlb_nlcu_hour"
    FARGATE_ARM_VCPU_HOUR = "fargate_arm_vcpu_hour"
    FARGATE_ARM_GB_HOUR = "fargate_arm_gb_hour"
    FARGATE_X86_VCPU_HOUR = "fargate_x86_vcpu_hour"
    FARGATE_X86_GB_HOUR = "fargate_x86_gb_hour"
    # Fargate Spot runs X86_64 Linux tasks only (no ARM64 price: the model refuses ARM64 Spot).
    # https://aws.amazon.com/fargate/pricing/: "Fargate Spot allows customers to run
    # interrupt-tolerant Amazon ECS Tasks* on spare capacity at up to a 70% discount off the
    # regular Fargate price." us-east-1: 0.04048 x 0.3 = 0.012144 USD per vCPU-hour and
    # 0.004445 x 0.3 = 0.0013335 USD per GB-hour (the price file's entries; the live Spot price
    # on that page varies with supply and demand).
    FARGATE_SPOT_X86_VCPU_HOUR = "fargate_spot_x86_vcpu_hour"
    FARGATE_SPOT_X86_GB_HOUR = "fargate_spot_x86_gb_hour"
    APP_RUNNER_PROVISIONED_GB_HOUR = "app_runner_provisioned_gb_hour"
    APP_RUNNER_ACTIVE_VCPU_HOUR = "app_runner_active_vcpu_hour"
    APP_RUNNER_ACTIVE_GB_HOUR = "app_runner_active_gb_hour"
    APP_RUNNER_AUTOMATIC_DEPLOYMENT_MONTH = "app_runner_automatic_deployment_month"
    WAF_WEB_ACL_MONTH = "waf_web_acl_month"
    WAF_RULE_MONTH = "waf_rule_month"
    WAF_REQUESTS_MILLION = "waf_requests_million"
    SYNTHETICS_CANARY_RUN = "synthetics_canary_run"
    SECRET_MONTH = "secret_month"  # noqa: S105  # a price key, not a secret
    SECRETS_API_10K = "secrets_api_10k"
    KMS_KEY_MONTH = "kms_key_month"
    KMS_REQUESTS_10K = "kms_requests_10k"
    ALARM_STANDARD_METRIC_MONTH = "alarm_standard_metric_month"
    ALARM_HIGH_RESOLUTION_METRIC_MONTH = "alarm_high_resolution_metric_month"
    COMPOSITE_ALARM_MONTH = "composite_alarm_month"
    DASHBOARD_MONTH = "dashboard_month"
    CLOUDWATCH_METRIC_MONTH = "cloudwatch_metric_month"
    LOGS_INGESTION_GB = "logs_ingestion_gb"
    LOGS_STORAGE_GB_MONTH = "logs_storage_gb_month"
    COGNITO_M2M_APP_CLIENT_MONTH = "cognito_m2m_app_client_month"
    COGNITO_M2M_TOKEN_REQUEST = "cognito_m2m_token_request"  # noqa: S105  # a price key
    COGNITO_ESSENTIALS_MAU = "cognito_essentials_mau"
    LAMBDA_REQUESTS_MILLION = "lambda_requests_million"
    LAMBDA_ARM_GB_SECOND = "lambda_arm_gb_second"
    LAMBDA_X86_GB_SECOND = "lambda_x86_gb_second"
    API_GATEWAY_REST_REQUESTS_MILLION = "api_gateway_rest_requests_million"
    DYNAMODB_WRITE_REQUEST_MILLION = "dynamodb_write_request_million"
    DYNAMODB_READ_REQUEST_MILLION = "dynamodb_read_request_million"
    DYNAMODB_STORAGE_GB_MONTH = "dynamodb_storage_gb_month"
    DYNAMODB_PITR_GB_MONTH = "dynamodb_pitr_gb_month"
    S3_STANDARD_GB_MONTH = "s3_standard_gb_month"
    S3_PUT_1K = "s3_put_1k"
    S3_GET_1K = "s3_get_1k"
    ECR_STORAGE_GB_MONTH = "ecr_storage_gb_month"
    XRAY_TRACES_MILLION = "xray_traces_million"
    DATA_TRANSFER_OUT_GB = "data_transfer_out_gb"
    SNS_EMAIL_100K = "sns_email_100k"
    ROUTE53_QUERIES_MILLION = "route53_queries_million"
    CLOUDFRONT_HTTPS_REQUESTS_10K = "cloudfront_https_requests_10k"
    CLOUDFRONT_DATA_TRANSFER_GB = "cloudfront_data_transfer_gb"
    CLOUDFRONT_FUNCTION_INVOCATIONS_MILLION = "cloudfront_function_invocations_million"
    BACKUP_RESTORE_TEST = "backup_restore_test"
    DYNAMODB_BACKUP_GB_MONTH = "dynamodb_backup_gb_month"
    AURORA_SNAPSHOT_GB_MONTH = "aurora_snapshot_gb_month"
    RDS_SNAPSHOT_GB_MONTH = "rds_snapshot_gb_month"


class PriceFileError(ValueError):
    """The price file is missing an entry or has a malformed one; ``str()`` is one line."""


@dataclass(frozen=True)
class Price:
    """One list price: ``usd`` per ``unit``, from ``source``."""

    id: str
    """Its key in the price file: a ``PriceId``, or ``<catalog>.<name>`` (an instance type's)."""
    usd: Decimal
    unit: str
    source: str
    """The AWS pricing page it comes from (the price file's ``note`` says how it was checked)."""


@dataclass(frozen=True)
class PriceBook:
    """Every price the model uses, as of one date in one region."""

    as_of: str
    region: str
    path: Path
    prices: Mapping[PriceId, Price]
    ec2_instance_hour: Mapping[str, Price]
    """Instance type -> on-demand Linux price."""
    api_gateway_cache_hour: Mapping[str, Price]
    """Cache size in GB, as CloudFormation spells it ("0.5") -> price."""
    rds_instance_hour: Mapping[str, Price]
    """``<engine>/<DB instance class>`` ("postgres/db.t4g.micro") -> Single-AZ on-demand price."""
    rds_multi_az_instance_hour: Mapping[str, Price]
    """The same keys -> Multi-AZ DB instance deployment price (a primary and its standby)."""

    def __getitem__(self, price_id: PriceId) -> Price:
        return self.prices[price_id]


def _price(key: str, entry: Any, path: Path) -> Price:
    """One entry of the file, named ``key``."""
    if not isinstance(entry, dict) or not {"usd", "unit", "source"} <= entry.keys():
        raise PriceFileError(f"{path.name}: price '{key}' needs usd, unit and source")
    usd = entry["usd"]
    if not isinstance(usd, Decimal) or usd < 0:
        raise PriceFileError(f"{path.name}: price '{key}' has no valid usd amount: {usd!r}")
    return Price(id=key, usd=usd, unit=str(entry["unit"]), source=str(entry["source"]))


def load_prices(path: Path = PRICE_FILE) -> PriceBook:
    """The price file, checked: every ``PriceId`` present with a usd amount, unit and source."""
    try:
        data = json.loads(path.read_text(), parse_float=Decimal, parse_int=Decimal)
    except (OSError, json.JSONDecodeError) as error:
        raise PriceFileError(f"cannot read price file {path}: {error}") from error
    section = data.get("prices", {})
    missing = [price_id.value for price_id in PriceId if price_id.value not in section]
    if missing:
        raise PriceFileError(f"{path.name}: missing prices: {', '.join(missing)}")
    return PriceBook(
        as_of=str(data["as_of"]),
        region=str(data["region"]),
        path=path,
        prices={price_id: _price(price_id.value, section[price_id], path) for price_id in PriceId},
        ec2_instance_hour=_catalog(data, "ec2_instance_hour", path),
        api_gateway_cache_hour=_catalog(data, "api_gateway_cache_hour", path),
        rds_instance_hour=_catalog(data, "rds_instance_hour", path),
        rds_multi_az_instance_hour=_catalog(data, "rds_multi_az_instance_hour", path),
    )


def _catalog(data: Mapping[str, Any], section: str, path: Path) -> dict[str, Price]:
    """A section of prices by name (instance types, cache sizes), each ``<section>.<name>``."""
    return {
        name: _price(f"{section}.{name}", entry, path)
        for name, entry in data.get(section, {}).items()
    }
