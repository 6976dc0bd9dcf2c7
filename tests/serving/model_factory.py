"""Small real models for the serving tests, trained here on generated data (no download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = [f"f{index}" for index in range(8)]
PIP_REQUIREMENTS = ["scikit-learn", "mlflow-skinny"]
"""Given, so MLflow does not spend seconds inferring them in a subprocess; the servers run in this venv anyway."""
ASSETS = Path(__file__).resolve().parent / "assets"


def training_frame(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)


def labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame["f0"] + 0.5 * frame["f1"] > 0).astype(np.int64).to_numpy()


def save_logistic_regression(path: Path) -> Path:
    """A logistic regression on `FEATURES`, with signature, input example and reference statistics."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from serving_image.reference_statistics import save_reference_statistics

    frame = training_frame()
    model = LogisticRegression(max_iter=500).fit(frame, labels(frame))
    mlflow.sklearn.save_model(model, str(path), signature=infer_signature(frame, model.predict(frame)),
                              input_example=frame.iloc[:2], pip_requirements=PIP_REQUIREMENTS)
    save_reference_statistics(frame, str(path))
    return path


def save_sqrt_pipeline(path: Path) -> Path:
    """A scikit-learn pipeline that takes square roots first, so a negative input makes predict raise."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = training_frame().abs()
    model = make_pipeline(FunctionTransformer(np.sqrt, feature_names_out="one-to-one"),
                          LogisticRegression(max_iter=500)).fit(frame, labels(frame - 0.8))
    mlflow.sklearn.save_model(model, str(path), signature=infer_signature(frame, model.predict(frame)),
                              serialization_format="cloudpickle", pip_requirements=PIP_REQUIREMENTS)
    return path


def save_slow_model(path: Path, seconds: float, started_dir: Path) -> Path:
    """A pyfunc model (from code in assets/) that takes `seconds` per predict call, so requests stay in flight;
    each call leaves a file in `started_dir` when it starts."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    frame = training_frame(rows=4)
    mlflow.pyfunc.save_model(str(path), python_model=str(ASSETS / "slow_model.py"),
                             model_config={"seconds": seconds, "started_dir": str(started_dir)},
                             signature=infer_signature(frame, np.zeros(len(frame))),
                             pip_requirements=PIP_REQUIREMENTS)
    return path
