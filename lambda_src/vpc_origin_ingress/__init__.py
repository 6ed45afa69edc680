"""Admits CloudFront's VPC origin to the Express load balancer (see handler)."""
