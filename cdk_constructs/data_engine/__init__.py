"""The data tier's database engines behind one interface.

``choices`` (pure Python: config may import it cheaply) names the engines, families and TLS
modes; ``interface`` is what the rest of the platform may use of an engine; ``factory`` picks
the engine's construct from its registry; one module per kind of engine (``aurora``:
Serverless v2 clusters, ``rds_instance``: DB instances), on the shared ``rds_base``.
"""
