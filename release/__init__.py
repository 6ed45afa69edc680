"""Releases after ``cdk deploy``: did traffic shift or roll back, what to record, how to go back.

CDK-free (boto3 and the config only), so the deploy workflow and ``make rollback`` run it
without synthesizing anything.
"""
