"""What the cluster receives: the chart rendered by a real helm, the manifests, build-and-deploy.sh, project.env's
names, and the user-code image run as the chart runs it."""
