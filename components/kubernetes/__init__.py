"""The cloud-neutral Kubernetes layer: MLflow, monitoring, model endpoints."""
