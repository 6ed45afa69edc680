"""Reusable CDK constructs of the platform.

Named ``cdk_constructs`` (not ``constructs``) so it never shadows the ``constructs`` library that
every CDK app imports (aws-cdk issue 19301).
"""
