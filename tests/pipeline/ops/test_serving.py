import mlflow
import pytest

from pipeline.ops import serving

MODEL = '''
import mlflow


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.models.set_model(Echo())
'''


@pytest.fixture
def client(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    code = tmp_path / "echo.py"
    code.write_text(MODEL)
    mlflow.pyfunc.save_model(str(tmp_path / "model"), python_model=str(code))
    monkeypatch.setenv(serving.MODEL_ENV, str(tmp_path / "model"))
    monkeypatch.setenv(serving.TOKEN_ENV, "s" * 40)
    return TestClient(serving.create_app())


def test_every_path_but_the_health_checks_needs_the_token(client):
    body = {"dataframe_records": [{"a": 1}]}
    assert client.get("/ping").status_code == 200 and client.get("/health").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s" * 40}):
        refused = client.post("/invocations", json=body, headers=headers)
        assert refused.status_code == 401 and refused.json()["error_code"] == "UNAUTHENTICATED"
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/version").status_code == 401
    answered = client.post("/invocations", json=body, headers={"Authorization": "Bearer " + "s" * 40})
    assert answered.status_code == 200 and answered.json()["predictions"] == [{"a": 1}]
