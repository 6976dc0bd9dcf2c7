"""Benchmark: our serving image against `mlflow models serve`, same models, same workers, same load.

    apt-get install -y wrk            # once: the load generator (Debian's package)
    python benchmarks/serving_benchmark.py [--workers 2] [--seconds 10]

It trains two small scikit-learn models on 20 features (a logistic regression and a 100-tree random forest),
logs them with MLflow into a throw-away sqlite tracking store, then for each model starts this server
(`python -m serving_image`) and `mlflow models serve --env-manager local` with the same number of workers on
127.0.0.1, checks that both give the same predictions, and drives each with wrk (a C load generator, so the
client is not the bottleneck) for a bounded time: 1-row and 100-row `dataframe_split` payloads at concurrency 1
and 16. It prints requests/s, p50, p99 and errors for each server, the ratios, the cold start (process start to
ready), the resident memory of each server's process tree, and the in-process `predict` time per payload, which
is the floor no server can beat. It takes about 3 to 4 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
FEATURES = [f"f{index}" for index in range(20)]
PAYLOAD_ROWS = (1, 100)
CONCURRENCY = (1, 16)
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = io.open(os.getenv("BENCHMARK_BODY"), "r")
wrk.body = file:read("*a")
file:close()
"""


@dataclass
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


@dataclass
class ServerRun:
    cold_start_seconds: float
    memory_mib: float
    results: dict[tuple[int, int], LoadResult]


def train_and_log(tracking_dir: Path) -> dict[str, tuple[str, object]]:
    """Train both models, log them with MLflow; returns name -> (model URI, fitted estimator)."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(f"sqlite:///{tracking_dir / 'mlflow.db'}")
    # The artifact root defaults to ./mlruns in the working directory; keep the models in the throw-away dir.
    experiment = mlflow.create_experiment("serving-benchmark", artifact_location=(tracking_dir / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(5000, len(FEATURES))), columns=FEATURES)
    labels = (frame["f0"] + frame["f1"] - frame["f2"] > 0).astype(np.int64)
    models = {}
    for name, estimator, trusted in (
        ("logistic_regression", LogisticRegression(max_iter=1000), None),
        ("random_forest", RandomForestClassifier(n_estimators=100, random_state=0), ["sklearn.tree._tree.Tree"]),
    ):
        estimator.fit(frame, labels)
        with mlflow.start_run(run_name=name):
            info = mlflow.sklearn.log_model(estimator, name=name, signature=infer_signature(frame, labels),
                                            input_example=frame.iloc[:2], skops_trusted_types=trusted,
                                            pip_requirements=["scikit-learn", "mlflow-skinny"])
        models[name] = (info.model_uri, estimator)
    return models


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 180) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s")


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total / 1024


def run_wrk(url: str, body_path: Path, script: Path, concurrency: int, seconds: int) -> LoadResult:
    command = ["wrk", f"-t{min(2, concurrency)}", f"-c{concurrency}", f"-d{seconds}s", "--latency", "--timeout", "10s",
               "-s", str(script), url]
    output = subprocess.run(command, env={**os.environ, "BENCHMARK_BODY": str(body_path)}, capture_output=True,
                            text=True, timeout=seconds + 60, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.MULTILINE))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                      _milliseconds(percentiles["50"]), _milliseconds(percentiles["99"]), errors,
                      int(re.search(r"(\d+) requests in", output).group(1)))


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def server_process(kind: str, model_uri: str, workers: int, port: int, work: Path) -> tuple[list[str], dict[str, str], str]:
    """The command, environment and readiness path of one server. The interpreter's own ``bin`` comes first on
    ``PATH``: ``mlflow models serve`` starts its web server as a console script (uvicorn) found there, so the
    benchmark works when run as ``.venv/bin/python benchmarks/serving_benchmark.py`` without an activated venv."""
    interpreter_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join([interpreter_bin, *(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                               if p and p != interpreter_bin)])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PATH": path}
    if kind == "serving_image":
        env.update({"MODEL_URI": model_uri, "PORT": str(port), "HOST": "127.0.0.1", "WORKERS": str(workers),
                    "RUNTIME_DIR": str(work / f"runtime-{port}"), "MODEL_DOWNLOAD_DIR": str(work / "downloads"),
                    "DRAIN_DELAY_SECONDS": "0"})
        return [sys.executable, "-m", "serving_image"], env, "/ready"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    return command, env, "/health"


def serve_and_load(kind: str, model_uri: str, workers: int, seconds: int, bodies: dict[int, Path],
                   expected: dict[int, list], work: Path) -> ServerRun:
    port = free_port()
    command, env, ready_path = server_process(kind, model_uri, workers, port, work)
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    with open(work / f"{kind}-{port}.log", "wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(f"http://127.0.0.1:{port}{ready_path}", process)
            cold_start = time.monotonic() - started
            url = f"http://127.0.0.1:{port}/invocations"
            for rows, body in bodies.items():
                request = urllib.request.Request(url, data=body.read_bytes(),
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.loads(response.read())["predictions"]
                if answer != expected[rows]:
                    raise RuntimeError(
                        f"{kind} answered {answer[:5]}... for {rows} rows; expected {expected[rows][:5]}")
            results = {}
            for rows, body in bodies.items():
                for concurrency in CONCURRENCY:
                    run_wrk(url, body, script, concurrency, 1)  # warm the connections and caches
                    results[(rows, concurrency)] = run_wrk(url, body, script, concurrency, seconds)
            return ServerRun(cold_start, tree_rss_mib(process.pid), results)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def predict_floor_ms(estimator: object, array: np.ndarray, budget_seconds: float = 1.0) -> float:
    """Median in-process predict time on a numpy array: what the model costs with no server at all."""
    estimator.predict(array)
    times = []
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline and len(times) < 2000:
        start = time.perf_counter()
        estimator.predict(array)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each measured load run")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed; run `apt-get install -y wrk` first", file=sys.stderr)
        return 2
    import warnings

    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    work = Path(tempfile.mkdtemp(prefix="serving-benchmark-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    models = train_and_log(work)
    rng = np.random.default_rng(1)
    lines = []
    for name, (uri, estimator) in models.items():
        arrays = {rows: rng.normal(size=(rows, len(FEATURES))).round(6) for rows in PAYLOAD_ROWS}
        bodies = {}
        for rows, array in arrays.items():
            bodies[rows] = work / f"{name}-{rows}.json"
            bodies[rows].write_text(json.dumps({"dataframe_split": {"columns": FEATURES, "data": array.tolist()}}))
        expected = {rows: estimator.predict(array).tolist() for rows, array in arrays.items()}
        floors = {rows: predict_floor_ms(estimator, array) for rows, array in arrays.items()}
        runs = {kind: serve_and_load(kind, uri, arguments.workers, arguments.seconds, bodies, expected, work)
                for kind in ("mlflow_models_serve", "serving_image")}
        lines.append(report(name, runs, floors, arguments.workers))
        print(lines[-1], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def report(name: str, runs: dict[str, ServerRun], floors: dict[int, float], workers: int) -> str:
    ours, theirs = runs["serving_image"], runs["mlflow_models_serve"]
    out = [f"\n== {name} ({workers} workers each) ==",
           f"{'server':<22}{'rows':>5}{'conc':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'requests':>10}"]
    for kind, run in runs.items():
        for (rows, concurrency), result in run.results.items():
            out.append(f"{kind:<22}{rows:>5}{concurrency:>6}{result.requests_per_second:>10.1f}{result.p50_ms:>9.2f}"
                       f"{result.p99_ms:>9.2f}{result.errors:>8}{result.requests:>10}")
    out.append(f"{'ratio (ours/theirs)':<22}{'rows':>5}{'conc':>6}{'req/s x':>10}{'p99 /':>9}")
    for key, result in ours.results.items():
        other = theirs.results[key]
        out.append(f"{'':<22}{key[0]:>5}{key[1]:>6}{result.requests_per_second / other.requests_per_second:>10.1f}"
                   f"{other.p99_ms / result.p99_ms:>9.1f}")
    for kind, run in runs.items():
        out.append(f"{kind:<22} cold start to ready {run.cold_start_seconds:6.2f} s, memory {run.memory_mib:7.1f} MiB")
    out.append("in-process predict floor: " + ", ".join(f"{rows} rows {ms:.3f} ms" for rows, ms in floors.items()))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
