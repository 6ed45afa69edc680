"""The items API: one Lambda function behind the private REST API (handler: `api.handler`).

`routes` is the route table (also deployed by the API stack and enforced by ``make local``),
`models` what clients may send, `handler` serves the routes with Powertools' validation,
`items` holds the SQL and the page cursor, `db` owns the one PostgreSQL connection of the
execution environment (pg8000; reconnect once when it drops), signing in with an IAM token from
`iam_token`, and `sql` sends each statement on it (simple protocol, values quoted client side).
CDK-free: the API stack imports `routes` and `models` as they are.
"""
