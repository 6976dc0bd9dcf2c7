"""Entry point the Pulumi CLI runs: builds the policy pack and serves it. Rules live in ``mlopsguard``."""

from mlopsguard.pack import serve

serve()
