"""A pyfunc model that sleeps before answering zeros; the drain test keeps requests in flight with it.

Each predict call first leaves a file in `started_dir`, so the test knows a request is in flight."""

import tempfile
import time

import mlflow.pyfunc
import numpy as np
from mlflow.models import set_model


class SlowModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.seconds = float(context.model_config["seconds"])
        self.started_dir = context.model_config["started_dir"]

    def predict(self, context, model_input, params=None):
        if len(model_input) == 1 and float(model_input.iloc[0, 0]) == 12345.0:
            tempfile.NamedTemporaryFile(dir=self.started_dir, delete=False).close()
            time.sleep(self.seconds)
        return np.zeros(len(model_input))


set_model(SlowModel())
