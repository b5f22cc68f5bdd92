# evse.ocpp.diagnostics: the file a diagnostics upload sends, from the logs on flash, within a
# window of OCPP times. The charge point is a plain object with the few fields the summary reads.
import os

import flashdir
from evse.ocpp import diagnostics

# The lines of evse/log.py: the OCPP time (or "-" before the clock is set), the console line.
LOG_1 = ("2026-01-01T10:00:00Z [   1.000] app started connectors=1\n"
         "2026-01-01T10:00:05Z [   6.000] boot accepted interval=300\n")
LOG = ("- [   0.500] app started connectors=1\n"  # a reboot, the clock not set yet
       "2026-01-01T11:00:00Z [   1.200] boot accepted interval=300\n"
       "2026-01-01T12:00:00Z [3601.000] relay connector=1 closed=1\n"
       "2026-01-01T12:00:01Z [3602.000] torn by a power c")  # no line break
SECURITY = ('{"timestamp": "2026-01-01T10:00:00Z", "type": "StartupOfTheDevice"}\n'
            '{"timestamp": "2000-01-01T00:00:09Z", "type": "ResetOrReboot", "clockUnset": true}\n'
            '{"timestamp": "2026-01-01T12:00:00Z", "type": "SettingSystemTime"}\n')


class _Machine:
    error = "NoError"


class _Port:
    id = 1
    tx = None
    machine = _Machine()


class _Availability:
    def state(self, cid):
        return "Available"


class _CP:
    boot_fields = {"firmwareVersion": "0.1.0", "chargePointModel": "unix-sim"}
    journal = []
    reg = "Accepted"
    ports = (_Port(),)
    availability = _Availability()


def _write(name, text):
    with open(name, "w") as f:
        f.write(text)


def _upload(security=False, lo=None, hi=None):
    n = diagnostics.write(_CP(), "data/upload.txt", security, lo, hi)
    with open("data/upload.txt") as f:
        text = f.read()
    assert n == len(text)
    return text


def _in_flash():
    d = flashdir.flash("diagfile")
    os.mkdir("data")
    _write("data/log.1", LOG_1)
    _write("data/log.txt", LOG)
    _write("data/security.1.jsonl", SECURITY[:SECURITY.index("\n") + 1])
    _write("data/security.jsonl", SECURITY[SECURITY.index("\n") + 1:])
    _write("data/ocpp.json", '{"HeartbeatInterval": 300, "AuthorizationKey": "SecretKeySecretKey00"}')
    _write("config.json", '{"charge_point_id": "CP-9", "authorization_key": "ConfigSecret0123456", "ocpp": {"MeterValueSampleInterval": 5},'
                          ' "wifi": {"ssid": "bench", "password": "WifiSecret99"},'
                          ' "csms_url": "ws://user:pw@example.com/ocpp", "client_key": "PEM"}')
    return d


def _log_part(text):
    return text[text.index("\n# log ") + 1:].splitlines()[1:]


def test_summary_then_every_whole_line_oldest_first():
    d = _in_flash()
    try:
        text = _upload()
        assert text.startswith("# diagnostics ")
        for want in ("boot firmwareVersion 0.1.0", "key HeartbeatInterval 300", "config ocpp MeterValueSampleInterval 5", "journal 0 registration Accepted",
                     "connector 1 status Available error NoError transaction 0",
                     "config charge_point_id CP-9", "config wifi ssid bench password set",
                     "config authorization_key set", "config client_key set",
                     "config csms_url ws://example.com/ocpp", "# log start now"):
            assert want in text, (want, text)
        for secret in ("SecretKeySecretKey00", "ConfigSecret0123456", "WifiSecret99", "PEM", "user:pw"):
            assert secret not in text, secret
        assert _log_part(text) == (LOG_1 + LOG).splitlines()[:-1]  # the torn line left out
    finally:
        flashdir.done(d)


def test_the_window_keeps_its_lines_and_an_untimed_line_goes_with_the_one_before():
    d = _in_flash()
    try:
        # from 10:00:05: the untimed line after it (a reboot) counts as 10:00:05 too
        lines = _log_part(_upload(lo="2026-01-01T10:00:05Z", hi="2026-01-01T11:00:00Z"))
        assert [x.split("] ")[1] for x in lines] == [
            "boot accepted interval=300", "app started connectors=1", "boot accepted interval=300"]
        assert _log_part(_upload(lo="2026-01-01T11:00:01Z")) == [LOG.splitlines()[2]]
        assert _log_part(_upload(hi="2026-01-01T09:59:59Z")) == []
    finally:
        flashdir.done(d)


def test_security_log_lines_as_written_without_a_summary():
    d = _in_flash()
    try:
        assert _upload(True) == SECURITY
        # clockUnset: the time of the line before it
        assert _upload(True, lo="2026-01-01T10:00:00Z", hi="2026-01-01T11:00:00Z") == SECURITY[:SECURITY.rindex("{")]
        assert _upload(True, lo="2026-01-01T10:00:01Z") == SECURITY[SECURITY.rindex("{"):]
        os.remove("data/security.jsonl")
        os.remove("data/security.1.jsonl")
        assert _upload(True) == ""  # no security log yet: an empty file
    finally:
        flashdir.done(d)
