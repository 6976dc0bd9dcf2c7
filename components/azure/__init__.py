"""The Azure cloud layer: a resource group with its log workspace, a VNet, AKS, Blob storage, PostgreSQL Flexible
Server and Entra workload identity, handed over as a ``CloudLayer`` (``mlops_platform.azure.layer``).

Modules import only the azure-native submodules they use (``pulumi_azure_native.storage``, ...): the SDK is large,
and importing it whole would multiply the time of every preview.
"""
