"""The SNS topic that alarms notify: KMS-encrypted, TLS only, delivered by e-mail."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cdk_constructs.keys import rotating_key
from cdk_constructs.nag import acknowledge

CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"


class AlertsTopic(Construct):
    """A topic encrypted with its own rotating key, for CloudWatch alarms of this account.

    Encrypted topics only receive what the publisher may encrypt for: the key policy lets
    CloudWatch (for alarms of this account only) generate data keys. ``enforce_ssl`` replaces
    SNS's default access policy, so the topic policy allows this account's alarms to publish.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        topic_name: str,
        email: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        same_account = {"StringEquals": {"aws:SourceAccount": stack.account}}

        self.key = rotating_key(
            self,
            "Key",
            description=f"Encrypts the {topic_name} SNS topic",
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=same_account,
            )
        )

        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=topic_name,
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.apply_removal_policy(removal_policy)
        alarm_arns = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={**same_account, "ArnLike": {"aws:SourceArn": alarm_arns}},
            )
        )
        self.subscription = self.topic.add_subscription(subscriptions.EmailSubscription(email))
        acknowledge(
            self.subscription,
            "Serverless-SNSRedrivePolicy",
            "An e-mail subscription: an alert that cannot be delivered would sit in a queue "
            "nobody reads; the alarm's state and history stay in CloudWatch.",
        )
