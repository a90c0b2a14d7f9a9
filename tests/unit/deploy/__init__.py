"""Tests of the container image, the Kubernetes manifests and the Helm chart."""
