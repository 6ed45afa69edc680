"""The items API: one Lambda function behind the private REST API (handler: `api.handler`).

`handler` routes API Gateway REST proxy events, `models` validates what clients send, `items`
holds the SQL and the page cursor, and `db` owns the one PostgreSQL connection of the execution
environment (IAM token sign-in, reconnect once when it drops).
"""
