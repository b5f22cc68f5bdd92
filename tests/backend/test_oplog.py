"""The operator log: one key=value line per OCPP message and session transition, no secrets."""

from __future__ import annotations

import logging

from ocpp.v16 import call

from host_tools.backend import oplog

from .conftest import API, pay, start_session


def test_line_quotes_values_that_need_it():
    assert oplog.line("x", a=1, b="two words", c=None, d=True) == 'event=x a=1 b="two words" c=null d=true'


async def test_ocpp_messages_and_transitions_are_logged_without_secrets(server, http, charger, caplog):
    caplog.set_level(logging.INFO, logger="chargerctl.backend")
    token, body = await start_session(http)
    await pay(http, body)
    await http.post(f"{API}/sessions/{token}/confirm")
    await http.get(f"{API}/sessions/{token}")
    await charger.cp.call(call.Heartbeat())
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("event=session ") and "from=created to=authorized" in line for line in lines)
    assert any("from=authorized to=starting" in line for line in lines)
    assert any("event=ocpp identity=CP-1 dir=out type=CALL action=RemoteStartTransaction" in line
               for line in lines)
    assert any("dir=in type=CALLRESULT action=RemoteStartTransaction" in line and "status=Accepted" in line
               for line in lines)
    assert any("dir=in type=CALL action=Heartbeat" in line for line in lines)
    assert any("event=http method=GET path=/api/v3/public-charging/sessions/" + token[:6] in line
               for line in lines)
    text = "\n".join(lines)
    assert token not in text
    assert body["payment"]["client_secret"] not in text


def test_payload_keys_named_like_log_keys_are_kept_apart():
    assert oplog.line("ocpp", event="x", type="y") == "event=ocpp event=x type=y"
