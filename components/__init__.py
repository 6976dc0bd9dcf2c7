"""Pulumi components that stand up an MLOps platform on AWS, GCP or Azure.

One ComponentResource per module, grouped by cloud (``aws/``, ``gcp/``, ``azure/``) and ``kubernetes/`` for the
cloud-neutral layer; ``platform.MlopsPlatform`` composes them. Each takes ``(name, args, opts)`` with a documented
``<Name>Args`` TypedDict, an optional ``tags`` mapping, and the caller's providers through ``opts``.
"""
