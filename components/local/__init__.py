"""The ``local`` target: the cloud-layer contract inside an existing cluster, for development without a cloud."""
