"""Reference web app of the platform: a page over the private items API, sessions in DynamoDB."""
