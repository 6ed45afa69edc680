"""The public API's Lambda authorizer (``authorizer.handler.lambda_handler``).

``authorizer.routes`` imports only the standard library: the CDK config validation imports it
to check ``api.route_roles`` with the same rules the function applies at run time.
"""
