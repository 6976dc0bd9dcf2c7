"""Programs of the MLflow tracking image besides ``mlflow server`` itself: the database token refresher (a native
sidecar), the database bootstrap (a Job, as the admin) and the schema upgrade (a Job, as MLflow's role).

Each is run as ``python -m serving_image.tracking.<module>`` and configured only through its environment, so the
Kubernetes layer (``components/kubernetes/database_login.py``) renders exactly what they read.
"""
