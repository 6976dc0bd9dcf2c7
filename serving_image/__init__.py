"""A fast MLflow model server with Prometheus metrics, online drift scores and graceful drain.

Run it as `python -m serving_image`; `serving_image.settings` holds the whole serving contract.
"""

__version__ = "0.1.0"
