"""Versioned SQL migrations for the platform database, applied by a CloudFormation custom resource.

`handler` is the Lambda entry point: it reads the endpoint and the engine family from its
environment and the login from Secrets Manager on every Create and Update. `dialects` picks the
family's module (`postgresql`: migration set, login, run); `migrate` loads the migration files
and applies them to PostgreSQL (no AWS); `connection` is what every family's login shares.
"""
