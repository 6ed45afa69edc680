"""The alarms and the dashboard of one environment, following a request front to back."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_synthetics as synthetics
from constructs import Construct

from cdk_constructs.options import AlarmThresholds

PERIOD = Duration.minutes(5)
SESSION_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
"""The DynamoDB ``Operation`` dimension values of what the web tier does with sessions."""
CONTAINER_INSIGHTS = "ECS/ContainerInsights"
APP_RUNNER = "AWS/AppRunner"


@dataclass(frozen=True)
class FargateWeb:
    load_balancer: elbv2.ApplicationLoadBalancer
    target_group: elbv2.ApplicationTargetGroup
    service: ecs.FargateService


@dataclass(frozen=True)
class AppRunnerWeb:
    service_name: str
    service_id: str


@dataclass(frozen=True)
class MonitoringProps:
    name: str
    """``<app>-<env>``: the dashboard's name."""
    topic: sns.ITopic
    thresholds: AlarmThresholds
    canary: synthetics.Canary
    web: FargateWeb | AppRunnerWeb
    api: apigw.RestApi
    api_stage: str
    function: lambda_.IFunction
    function_timeout: Duration
    cluster: rds.DatabaseCluster
    proxy: rds.DatabaseProxy | None
    sessions: dynamodb.ITableV2


class PlatformMonitoring(Construct):
    """An alarm per failure mode (thresholds from config, all to the alerts topic; missing
    data is not breaching, since no traffic is normal) and one dashboard: canary, web, API
    Gateway, Lambda, proxy, Aurora, DynamoDB, in the order a request goes."""

    def __init__(self, scope: Construct, id_: str, *, props: MonitoringProps) -> None:
        super().__init__(scope, id_)
        self.topic = props.topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        limits = props.thresholds
        api_dimensions = {"ApiName": props.api.rest_api_name, "Stage": props.api_stage}

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

        function = props.function
        errors = function.metric_errors(period=PERIOD, statistic="Sum")
        throttles = function.metric_throttles(period=PERIOD, statistic="Sum")
        duration = function.metric_duration(period=PERIOD, statistic="Maximum")
        near_timeout = (
            props.function_timeout.to_milliseconds()
            * limits.lambda_duration_percent_of_timeout
            / 100
        )
        self._alarm("LambdaErrors", errors, limits.lambda_errors, "function errors")
        self._alarm("LambdaThrottles", throttles, limits.lambda_throttles, "function throttles")
        self._alarm("LambdaDuration", duration, near_timeout, "function duration near timeout")

        cluster = props.cluster
        cpu = cluster.metric_cpu_utilization(period=PERIOD, statistic="Maximum")
        acu = cluster.metric_acu_utilization(period=PERIOD, statistic="Maximum")
        connections = cluster.metric_database_connections(period=PERIOD, statistic="Maximum")
        self._alarm("AuroraCpu", cpu, limits.aurora_cpu_percent, "Aurora CPU (%)")
        self._alarm(
            "AuroraAcuUtilization", acu, limits.aurora_acu_utilization_percent, "Aurora ACU (%)"
        )
        self._alarm(
            "AuroraConnections", connections, limits.aurora_connections, "Aurora connections"
        )
        proxy_connections: cloudwatch.Metric | None = None
        if props.proxy is not None:
            proxy_connections = cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name="ClientConnections",
                dimensions_map={"ProxyName": props.proxy.db_proxy_name},
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

        web_metrics = self._web_alarms(props.web, limits)
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
        row("2. Web", *(graph(title, metric) for title, metric in web_metrics))
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
            "6. Aurora",
            graph("CPU %", cpu),
            graph("ACU utilization %", acu),
            graph("Connections", connections),
        )
        row(
            "7. DynamoDB sessions",
            graph("Throttles / system errors", table_throttles, table_errors),
        )

    def _web_alarms(
        self, web: FargateWeb | AppRunnerWeb, limits: AlarmThresholds
    ) -> list[tuple[str, cloudwatch.IMetric]]:
        """The web runtime's alarms; returns its dashboard graphs."""
        if isinstance(web, FargateWeb):
            elb_5xx = web.load_balancer.metrics.http_code_elb(
                elbv2.HttpCodeElb.ELB_5XX_COUNT, period=PERIOD, statistic="Sum"
            )
            target_5xx = web.load_balancer.metrics.http_code_target(
                elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=PERIOD, statistic="Sum"
            )
            web_5xx = cloudwatch.MathExpression(
                expression="FILL(elb, 0) + FILL(target, 0)",
                using_metrics={"elb": elb_5xx, "target": target_5xx},
                label="ALB + target 5XX",
                period=PERIOD,
            )
            # Built by hand: CDK's target group metrics parse the balancer's name out of a
            # listener ARN (Fn::Split), which a cross-stack reference cannot feed.
            unhealthy = cloudwatch.Metric(
                namespace="AWS/ApplicationELB",
                metric_name="UnHealthyHostCount",
                dimensions_map={
                    "TargetGroup": web.target_group.target_group_full_name,
                    "LoadBalancer": web.load_balancer.load_balancer_full_name,
                },
                statistic="Maximum",
                period=PERIOD,
            )
            service_dimensions = {
                "ClusterName": web.service.cluster.cluster_name,
                "ServiceName": web.service.service_name,
            }
            running_below_desired = cloudwatch.MathExpression(
                expression="desired - running",
                using_metrics={
                    name: cloudwatch.Metric(
                        namespace=CONTAINER_INSIGHTS,
                        metric_name=metric,
                        dimensions_map=service_dimensions,
                        statistic="Minimum" if name == "running" else "Maximum",
                        period=PERIOD,
                    )
                    for name, metric in (
                        ("desired", "DesiredTaskCount"),
                        ("running", "RunningTaskCount"),
                    )
                },
                label="Tasks missing",
                period=PERIOD,
            )
            self._alarm("Web5xx", web_5xx, limits.web_5xx, "ALB 5XX")
            self._alarm(
                "UnhealthyTargets", unhealthy, limits.unhealthy_targets, "unhealthy targets"
            )
            self._alarm("TasksBelowDesired", running_below_desired, 1, "running tasks < desired")
            return [
                ("ALB 5XX", web_5xx),
                ("Unhealthy targets", unhealthy),
                ("Tasks missing", running_below_desired),
            ]
        app_runner_5xx = cloudwatch.Metric(
            namespace=APP_RUNNER,
            metric_name="5xxStatusResponses",
            dimensions_map={"ServiceName": web.service_name, "ServiceID": web.service_id},
            statistic="Sum",
            period=PERIOD,
        )
        self._alarm("Web5xx", app_runner_5xx, limits.web_5xx, "App Runner 5XX")
        return [("App Runner 5XX", app_runner_5xx)]

    def _alarm(
        self, id_: str, metric: cloudwatch.IMetric, threshold: float, what: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            id_,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{what} at or above {threshold:g}",
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
