"""Versioned SQL migrations for the platform database, applied by a CloudFormation custom resource.

`migrate` is the runner (PostgreSQL only, no AWS); `handler` is the Lambda entry point that
connects with the Secrets Manager credentials and runs it on every Create and Update.
"""
