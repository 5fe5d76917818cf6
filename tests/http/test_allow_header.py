"""A 405 names every method the path supports, however many routes serve it (schemathesis checks it)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.quality.bootstrap import create_app
from services.quality.settings import QualitySettings


def test_a_method_the_path_does_not_take_lists_every_method_it_does(tmp_path) -> None:
    api = create_app(QualitySettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1"))
    with TestClient(api) as client:
        response = client.request("OPTIONS", "/corrective-actions")  # GET and POST are two routes
        assert response.status_code == 405
        assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "POST"}
        assert response.json()["detail"][0]["type"] == "http_error"
