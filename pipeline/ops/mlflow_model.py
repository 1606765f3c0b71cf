"""MLflow models-from-code entry point for the forecaster.

MLflow executes this file when it logs or loads the model (no pickled Python objects are stored);
the package itself never imports it.
"""

import mlflow

from pipeline.ops.pyfunc import PanelModel

mlflow.models.set_model(PanelModel())
