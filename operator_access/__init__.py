"""Operator access to a deployed environment, CDK-free (boto3, the config, the AWS CLI and the
Session Manager plugin): ``make db-tunnel`` (a port forward to the database through the data
tier's access instance, with a read-only IAM login or the master secret) and ``make shell``
(a shell in a running web container or instance)."""
