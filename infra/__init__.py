"""The Pulumi program of this project (``Pulumi.yaml``: ``main: infra/``), its typed stack configuration, and the
offline harness and preview command that run it without a Pulumi CLI or a cloud account."""
