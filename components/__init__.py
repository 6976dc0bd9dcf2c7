"""Pulumi components that stand up an MLOps platform on AWS, GCP or Azure.

One ComponentResource per module, grouped by cloud (``aws/``, ``gcp/``, ``azure/``) and ``kubernetes/`` for the
cloud-neutral layer; ``platform.MlopsPlatform`` composes them. See DESIGN.md for the conventions.
"""
