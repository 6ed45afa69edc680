"""The web runtimes (what runs the public web container) behind one interface.

``interface`` says what the platform needs of a runtime, ``factory`` picks one from config, and
each runtime is one module (``fargate``, ``app_runner``). ``rollout`` is CDK-free, so the deploy
workflow's helpers can read it without importing aws_cdk: keep this file free of imports.
"""
