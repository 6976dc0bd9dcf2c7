"""The GCP cloud layer: VPC network, GKE, GCS, Cloud SQL for PostgreSQL and Workload Identity."""
