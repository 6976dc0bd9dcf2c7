"""Entry point of the component provider (PulumiPlugin.yaml): serves ``mlops_platform.provider`` over gRPC."""

from mlops_platform.provider import serve

if __name__ == "__main__":
    serve()
