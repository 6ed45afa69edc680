"""Monthly cost floor of the synthesized environments (``make cost`` / ``python -m cost``).

Reads ``cdk.out`` only and prices it from one dated file of us-east-1 list prices, so a change
that adds an always-on resource shows up in the floor before it is deployed.
"""
