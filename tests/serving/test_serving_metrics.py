"""/metrics speaks the Prometheus text format and counts every scoring request, across all workers."""

from __future__ import annotations

import orjson
import pytest
from model_factory import FEATURES
from prometheus_client.parser import text_string_to_metric_families
from serving_processes import http, post_json

pytestmark = pytest.mark.slow  # starts real server processes

IDENTITY = {"model_name": "churn", "model_version": "7"}


def scrape(server) -> dict[tuple[str, tuple], float]:
    status, body, headers = http("GET", server.url("/metrics"))
    assert status == 200 and headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted({**IDENTITY, **labels}.items()))), 0.0)


def test_requests_are_counted_by_outcome_rows_and_duration_over_both_workers(logistic_server):
    before = scrape(logistic_server)
    good = {"dataframe_split": {"columns": FEATURES, "data": [[0.1] * len(FEATURES)] * 3}}
    for _ in range(20):  # spread over both workers by the kernel's accept balancing
        assert post_json(logistic_server.url("/invocations"), good)[0] == 200
    for _ in range(4):
        assert http("POST", logistic_server.url("/invocations"), b"{not json")[0] == 400
    after = scrape(logistic_server)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ml_predictions_total", status="success") == 20
    assert delta("ml_predictions_total", status="client_error") == 4
    assert delta("ml_predictions_total", status="server_error") == 0
    assert delta("ml_prediction_rows_total") == 60
    assert delta("ml_prediction_duration_seconds_count") == 24
    assert 0 < delta("ml_prediction_duration_seconds_sum") < 24 * 1.0
    assert delta("ml_prediction_duration_seconds_bucket", le="0.0001") <= delta(
        "ml_prediction_duration_seconds_bucket", le="0.1") == delta("ml_prediction_duration_seconds_bucket", le="+Inf")


def test_model_loaded_is_one_when_every_worker_has_the_model(logistic_server):
    assert value(scrape(logistic_server), "ml_model_loaded") == 1.0


def test_histogram_buckets_reach_from_a_tenth_of_a_millisecond_to_seconds(logistic_server):
    bounds = {dict(labels).get("le") for (name, labels) in scrape(logistic_server)
              if name == "ml_prediction_duration_seconds_bucket"}
    assert {"0.0001", "0.001", "0.01", "0.1", "1.0", "+Inf"} <= bounds


def test_version_names_the_model_and_the_server(logistic_server, logistic_model):
    import serving_image

    document = orjson.loads(http("GET", logistic_server.url("/version"))[1])
    assert document["model_name"] == "churn" and document["model_version"] == "7"
    assert document["model_uri"] == str(logistic_model)
    assert document["server_version"] == serving_image.__version__
    assert document["flavor"] == "sklearn" and document["native_predict"] is True and document["micro_batching"]
