"""Schema-based fuzzing of the OpenAPI document (schemathesis): no input makes the backend fail.

Bounded: a few examples per operation, in-process ASGI transport (no sockets at all).
"""

from __future__ import annotations

import asyncio
import threading

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

from .conftest import CHARGERS, FakeClock, Server, connect

NO_LIMITS = {k: 1_000_000 for k in ("charger", "start", "get", "confirm", "stop", "cancel",
                                    "local_confirm", "actions")}
OPERATOR_TOKEN = "fuzz-operator-token-0123"
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
    # the local backend's live figures of issue 13: numbers >= 0 or null, checked by the
    # response_schema_conformance of every fuzzed session answer below
    session = app.openapi()["components"]["schemas"]["SessionData"]["properties"]
    for name in ("current_offered_a", "charge_limit_a"):
        assert {"type": "number", "minimum": 0} in session[name]["anyOf"], session[name]
        assert {"type": "null"} in session[name]["anyOf"]


def test_fuzz_every_operation_without_server_errors(tmp_path):
    app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock(),
                                      rate_limits=NO_LIMITS, operator_token=OPERATOR_TOKEN)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [schemathesis.GenerationMode.POSITIVE]
        if (operation.path.endswith(("/sessions", "/confirm")) and "{token}" not in operation.path
                or "/actions/" in operation.path):
            modes.append(schemathesis.GenerationMode.NEGATIVE)  # only request bodies can be wrong
        # the operator actions get past their Bearer check to the validation of their bodies
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"} if "/actions/" in operation.path \
            else None
        for mode in modes:

            @settings(max_examples=10, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                case.call_and_validate(checks=CHECKS, headers=headers)  # noqa: B023 - run now

            run()
        seen += 1
    # the public API, the local payment step, the ten operator actions (three of them certificates)
    assert seen == 17


def test_fuzz_start_against_a_live_backend_with_an_online_charger(tmp_path):
    """With a real charge point connected, generated starts reach 201, 409 and 429 as well."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run_in_loop(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    server = Server(str(tmp_path / "db"), FakeClock(), options={"rate_limits": NO_LIMITS})
    run_in_loop(server.start())
    link = run_in_loop(connect(server))
    # a charge limit on the charger: every session answer carries charge_limit_a, checked
    # against the document like the rest
    server.backend.store.set_charge_limit("CP-1", 0, 1, 16.0, 0.0)
    statuses = set()
    try:
        schema = schemathesis.openapi.from_url(server.base + "/openapi.json")
        operation = schema["/api/v3/public-charging/sessions"]["POST"]

        @settings(max_examples=40, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            case.body = case.body if not isinstance(case.body, dict) else {**case.body}
            if isinstance(case.body, dict) and isinstance(case.body.get("code"), str):
                case.body["code"] = "abc123"  # aim at the real charger
            statuses.add(case.call_and_validate(checks=CHECKS).status_code)

        run()
    finally:
        run_in_loop(link.close())
        run_in_loop(server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert 201 in statuses and 422 in statuses
