"""CodeDeploy's pre-traffic hook of the items API: the new version answers GET /health (see
handler)."""
