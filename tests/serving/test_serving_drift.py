"""Drift scores stay low while inputs look like the training data, and rise for the feature whose distribution moves."""

from __future__ import annotations

import time

import numpy as np
import pytest
from model_factory import FEATURES, training_frame
from prometheus_client.parser import text_string_to_metric_families
from serving_processes import http, post_json, start_serving_image

from serving_image.drift_monitor import DriftMonitor, population_stability_index
from serving_image.reference_statistics import compute_reference_statistics, load_reference_statistics

pytestmark = pytest.mark.slow  # starts real server processes

WINDOW = 400


def drift_scores(server) -> dict[str, float]:
    body = http("GET", server.url("/metrics"))[1].decode()
    return {sample.labels["feature"]: sample.value
            for family in text_string_to_metric_families(body) if family.name == "ml_data_drift_score"
            for sample in family.samples}


def send(server, frame) -> None:
    for start in range(0, len(frame), 100):
        chunk = frame.iloc[start:start + 100]
        payload = {"dataframe_split": {"columns": FEATURES, "data": chunk.to_numpy().tolist()}}
        assert post_json(server.url("/invocations"), payload)[0] == 200


def wait_for_scores(server, condition, timeout: float = 20) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    scores = {}
    while time.monotonic() < deadline:
        scores = drift_scores(server)
        if len(scores) == len(FEATURES) and condition(scores):
            return scores
        time.sleep(0.1)
    raise AssertionError(f"drift scores never met the condition within {timeout}s: {scores}")


@pytest.fixture(scope="module")
def drift_server(logistic_model, tmp_path_factory):
    server = start_serving_image(str(logistic_model), tmp_path_factory.mktemp("drift-server"),
                                 DRIFT_INTERVAL_SECONDS="0.2", DRIFT_WINDOW_ROWS=str(WINDOW),
                                 MODEL_NAME="churn", MODEL_VERSION="7")
    try:
        server.wait_until("/ready")
        yield server
    finally:
        server.stop()


def test_drift_is_low_for_training_like_inputs_and_high_for_the_shifted_feature(drift_server):
    send(drift_server, training_frame(rows=WINDOW, seed=7))
    stable = wait_for_scores(drift_server, lambda scores: True)
    assert max(stable.values()) < 0.1, stable

    shifted = training_frame(rows=WINDOW, seed=8)
    shifted["f2"] = shifted["f2"] + 2.0
    send(drift_server, shifted)
    moved = wait_for_scores(drift_server, lambda scores: scores["f2"] > 1.0)
    assert max(score for feature, score in moved.items() if feature != "f2") < 0.1, moved


def test_categorical_and_numeric_features_score_against_their_reference():
    import pandas as pd

    rng = np.random.default_rng(0)
    train = pd.DataFrame({"amount": rng.normal(size=5000), "color": rng.choice(["red", "blue"], size=5000)})
    document = compute_reference_statistics(train)
    assert sorted(document["features"]["color"]["categories"]) == ["blue", "red"]
    assert len(document["features"]["amount"]["proportions"]) == len(document["features"]["amount"]["bin_edges"]) + 1

    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "reference_statistics.json").write_text(json.dumps(document))
        monitor = DriftMonitor(load_reference_statistics(directory), window_rows=1000)
    same = pd.DataFrame({"amount": rng.normal(size=1000), "color": rng.choice(["red", "blue"], size=1000)})
    monitor.record_frame(same)
    assert max(monitor.scores().values()) < 0.05
    moved = pd.DataFrame({"amount": rng.normal(size=1000), "color": rng.choice(["green"], size=1000)})
    monitor.record_frame(moved)
    scores = monitor.scores()
    assert scores["color"] > 1.0 and scores["amount"] < 0.05


def test_population_stability_index_is_zero_for_identical_shares_and_grows_with_the_shift():
    expected = np.array([0.25, 0.25, 0.25, 0.25])
    assert population_stability_index(np.array([25, 25, 25, 25]), expected) == pytest.approx(0.0)
    small = population_stability_index(np.array([30, 25, 25, 20]), expected)
    large = population_stability_index(np.array([70, 10, 10, 10]), expected)
    assert 0 < small < 0.1 < large
