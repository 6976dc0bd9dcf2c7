"""A pyfunc model that sleeps before answering zeros; the drain test keeps requests in flight with it."""

import time

import mlflow.pyfunc
import numpy as np
from mlflow.models import set_model


class SlowModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.seconds = float(context.model_config["seconds"])

    def predict(self, context, model_input, params=None):
        time.sleep(self.seconds)
        return np.zeros(len(model_input))


set_model(SlowModel())
