"""The AWS cloud layer: artifact store (S3), and the rest of the cloud-layer contract as it lands."""
