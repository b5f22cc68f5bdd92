"""Schema-based fuzzing of the OpenAPI document (schemathesis): no input makes the backend fail.

Bounded: a few examples per operation, in-process ASGI transport (no sockets at all).
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from host_tools.backend import create_app
from host_tools.backend.config import parse_chargers

from .conftest import CHARGERS, FakeClock

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_openapi_document_lists_the_six_endpoints(tmp_path):
    app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock())
    paths = app.openapi()["paths"]
    p = "/api/v3/public-charging"
    assert {p + "/chargers/{code}", p + "/sessions", p + "/sessions/{token}",
            p + "/sessions/{token}/confirm", p + "/sessions/{token}/stop",
            p + "/sessions/{token}/cancel"} <= set(paths)
    start = paths[p + "/sessions"]["post"]
    assert set(start["responses"]) >= {"201", "400", "404", "409", "422", "429"}


def test_fuzz_every_operation_without_server_errors(tmp_path):
    app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock(),
                     rate_limits={k: 1_000_000 for k in ("charger", "start", "get", "confirm",
                                                         "stop", "cancel", "local_confirm")})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=15, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            case.call_and_validate(checks=CHECKS)

        run()
        seen += 1
    assert seen == 7
