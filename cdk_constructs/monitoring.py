"""The alarms and the dashboard of one environment, following a request front to back."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk_constructs.backup import DYNAMODB
from cdk_constructs.data_engine.interface import DataEngine
from cdk_constructs.health_canary import HealthCanary
from cdk_constructs.web_runtime.interface import WebRuntimeService
from stacks.api_tier import ApiMonitoring
from stacks.config.sections import AlarmThresholds

PERIOD = Duration.minutes(5)
SESSION_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
"""The DynamoDB ``Operation`` dimension values of what the web tier does with sessions."""
CANARY_ALARM = "CanaryFailed"
BACKUP_PERIOD = Duration.hours(1)
BACKUP_JOB_FAILURES = ("NumberOfBackupJobsFailed", "NumberOfBackupJobsExpired")
"""A failed job, and one that never started in its window: either way no recovery point."""
RESTORE_JOB_FAILURES = ("NumberOfRestoreJobsFailed",)


@dataclass(frozen=True)
class MonitoringProps:
    name: str
    """``<app>-<env>``: the dashboard's name."""
    topic: sns.ITopic
    thresholds: AlarmThresholds
    canary: HealthCanary
    """Its failure alarm is created here, next to the topic (the canary stays in the web stack,
    which must not depend on this one)."""
    web: WebRuntimeService
    """Whatever runs the web tier: its own alarms and graphs."""
    api: ApiMonitoring
    """The API tier's stage and function, and its own alarms (``extra_alarms``)."""
    database: DataEngine
    sessions: dynamodb.ITableV2
    backups: bool = False
    """The data tier has AWS Backup (``backup.active``): alarm on failed backup and restore
    jobs."""


class PlatformMonitoring(Construct):
    """An alarm per failure mode (thresholds from config, all to the alerts topic; missing
    data is not breaching, since no traffic is normal) and one dashboard: canary, web, API
    Gateway, Lambda, proxy, Aurora, DynamoDB, in the order a request goes. The web runtime
    names its own alarms (``alarm_sources``)."""

    def __init__(self, scope: Construct, id_: str, *, props: MonitoringProps) -> None:
        super().__init__(scope, id_)
        self.topic = props.topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        limits = props.thresholds
        api = props.api
        api_dimensions = {"ApiName": api.rest_api.rest_api_name, "Stage": api.stage_name}

        def api_metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name=name,
                dimensions_map=api_dimensions,
                statistic=statistic,
                period=PERIOD,
            )

        # 5XXError is 1 or 0 per request: its average is the error rate (one alarm metric).
        api_5xx_rate = api_metric("5XXError", "Average")
        api_p99 = api_metric("Latency", "p99")
        self._alarm(
            "Api5xxRate", api_5xx_rate, limits.api_5xx_rate_percent / 100, "API 5XX rate (share)"
        )
        self._alarm("ApiLatencyP99", api_p99, limits.api_p99_latency_ms, "API p99 latency (ms)")

        function = api.function
        errors = function.metric_errors(period=PERIOD, statistic="Sum")
        throttles = function.metric_throttles(period=PERIOD, statistic="Sum")
        duration = function.metric_duration(period=PERIOD, statistic="Maximum")
        near_timeout = (
            api.function_timeout.to_milliseconds() * limits.lambda_duration_percent_of_timeout / 100
        )
        if not api.errors_are_refusals:
            self._alarm("LambdaErrors", errors, limits.lambda_errors, "function errors")
        self._alarm("LambdaThrottles", throttles, limits.lambda_throttles, "function throttles")
        self._alarm("LambdaDuration", duration, near_timeout, "function duration near timeout")

        database = props.database
        # The ids and labels say Aurora for every engine: alarms are named in the ops stack's
        # history and runbooks, and the default engine's must not change.
        cpu = database.metric("CPUUtilization", statistic="Maximum", period=PERIOD)
        connections = database.metric("DatabaseConnections", statistic="Maximum", period=PERIOD)
        self._alarm("AuroraCpu", cpu, limits.aurora_cpu_percent, "Aurora CPU (%)")
        capacity: list[tuple[str, cloudwatch.Metric]] = []
        for alarm in database.capacity_alarms():
            metric = database.metric(alarm.metric_name, statistic=alarm.statistic, period=PERIOD)
            threshold = (
                alarm.threshold
                if alarm.threshold is not None
                else limits.aurora_acu_utilization_percent
            )
            self._alarm(alarm.id_, metric, threshold, alarm.what, below=alarm.below)
            capacity.append((alarm.graph, metric))
        self._alarm(
            "AuroraConnections", connections, limits.aurora_connections, "Aurora connections"
        )
        proxy_connections: cloudwatch.Metric | None = None
        if database.identity.proxy_name is not None:
            proxy_connections = cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name="ClientConnections",
                dimensions_map={"ProxyName": database.identity.proxy_name},
                statistic="Maximum",
                period=PERIOD,
            )
            self._alarm(
                "ProxyClientConnections",
                proxy_connections,
                limits.proxy_client_connections,
                "RDS Proxy client connections",
            )

        table_throttles = cloudwatch.MathExpression(
            expression="FILL(reads, 0) + FILL(writes, 0)",
            using_metrics={
                name: props.sessions.metric(metric_name, statistic="Sum", period=PERIOD)
                for name, metric_name in (
                    ("reads", "ReadThrottleEvents"),
                    ("writes", "WriteThrottleEvents"),
                )
            },
            label="Throttle events",
            period=PERIOD,
        )
        table_errors = _sum_over_operations(props.sessions, "SystemErrors")
        self._alarm(
            "DynamoThrottles", table_throttles, limits.dynamodb_throttles, "session throttles"
        )
        self._alarm(
            "DynamoSystemErrors", table_errors, limits.dynamodb_system_errors, "session errors"
        )

        if props.backups:
            self._backup_alarms(props.database.identity.backup_resource_type)

        web_sources = props.web.alarm_sources(limits, period=PERIOD)
        for source in (*web_sources, *api.extra_alarms):
            self._alarm(source.id_, source.metric, source.threshold, source.what)
        self.alarms[CANARY_ALARM] = props.canary.failure_alarm(self, CANARY_ALARM, topic=self.topic)
        canary_success = props.canary.metric_success_percent(period=PERIOD)

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=props.name,
            default_interval=Duration.hours(3),
        )

        def row(title: str, *graphs: cloudwatch.IWidget) -> None:
            self.dashboard.add_widgets(cloudwatch.TextWidget(markdown=f"## {title}", width=24))
            self.dashboard.add_widgets(*graphs)

        def graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)

        row("1. Canary (public health check)", graph("Canary success %", canary_success))
        row("2. Web", *(graph(source.graph, source.metric) for source in web_sources))
        row(
            "3. API Gateway",
            graph("Requests", api_metric("Count", "Sum")),
            graph("5XX share", api_5xx_rate),
            graph("Latency p99 (ms)", api_p99),
        )
        row(
            "4. Lambda",
            graph("Errors / throttles", errors, throttles),
            graph("Max duration (ms)", duration),
        )
        if proxy_connections is not None:
            row("5. RDS Proxy", graph("Client connections", proxy_connections))
        row(
            "6. Aurora" if database.spec.serverless else f"6. {database.spec.label}",
            graph("CPU %", cpu),
            *(graph(title, metric) for title, metric in capacity),
            graph("Connections", connections),
        )
        row(
            "7. DynamoDB sessions",
            graph("Throttles / system errors", table_throttles, table_errors),
        )
        if api.extra_alarms:
            row("8. Services", *(graph(source.graph, source.metric) for source in api.extra_alarms))

    def _backup_alarms(self, database_type: str) -> None:
        """One alarm on failed backup jobs, one on failed restore jobs (the restore test's).

        ``AWS/Backup`` metrics, by ``ResourceType``: each environment has its own account, so
        the cluster's and table's types are this environment's jobs. CloudWatch alarms rather
        than EventBridge rules: the alerts topic and its key admit this account's alarms only.
        """
        for id_, names, what in (
            ("BackupJobsFailed", BACKUP_JOB_FAILURES, "failed or expired backup jobs"),
            ("RestoreJobsFailed", RESTORE_JOB_FAILURES, "failed restore (test) jobs"),
        ):
            metrics: dict[str, cloudwatch.IMetric] = {
                f"m{index}": cloudwatch.Metric(
                    namespace="AWS/Backup",
                    metric_name=name,
                    dimensions_map={"ResourceType": resource_type},
                    statistic="Sum",
                    period=BACKUP_PERIOD,
                )
                for index, (name, resource_type) in enumerate(
                    (name, resource_type)
                    for name in names
                    for resource_type in (database_type, DYNAMODB)
                )
            }
            total = cloudwatch.MathExpression(
                expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
                using_metrics=metrics,
                label=what,
                period=BACKUP_PERIOD,
            )
            self._alarm(id_, total, 1, what)

    def _alarm(
        self,
        id_: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        what: str,
        *,
        below: bool = False,
    ) -> cloudwatch.Alarm:
        operator = cloudwatch.ComparisonOperator
        alarm = cloudwatch.Alarm(
            self,
            id_,
            metric=metric,
            threshold=threshold,
            comparison_operator=(
                operator.LESS_THAN_OR_EQUAL_TO_THRESHOLD
                if below
                else operator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
            ),
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{what} at or {'below' if below else 'above'} {threshold:g}",
        )
        action = cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms[id_] = alarm
        return alarm


def _sum_over_operations(table: dynamodb.ITableV2, metric_name: str) -> cloudwatch.MathExpression:
    """A DynamoDB per-operation metric summed over the session operations.

    Built here rather than with ``metric_*_for_operations``, whose metric ids collide when the
    table lives in another stack.
    """
    metrics: dict[str, cloudwatch.IMetric] = {
        f"{metric_name.lower()}{index}": cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name=metric_name,
            dimensions_map={"TableName": table.table_name, "Operation": operation},
            statistic="Sum",
            period=PERIOD,
        )
        for index, operation in enumerate(SESSION_OPERATIONS)
    }
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
        using_metrics=metrics,
        label=f"{metric_name} (session operations)",
        period=PERIOD,
    )
