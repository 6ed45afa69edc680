"""``python -m roles ENV grant|revoke|list USER [ROLE]``: who may call which route of the
public_services API (the authorizer reads these roles from the role table). CDK-free."""
