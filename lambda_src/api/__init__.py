"""The items API: one Lambda function behind the private REST API (handler: `api.handler`).

`routes` is the route table (also deployed by the API stack and enforced by ``make local``),
`models` what clients may send, `handler` serves the routes with Powertools' validation,
`items` holds the reads and writes and the page cursor, `db` owns the one database connection of
the execution environment (reconnect once when it drops), signing in with an IAM token from
`iam_token`; `sql` is what every engine's session offers, and `dialects` holds all that differs
between PostgreSQL (pg8000) and MySQL (PyMySQL), chosen by DB_ENGINE_FAMILY.
CDK-free: the API stack imports `routes` and `models` as they are.
"""
