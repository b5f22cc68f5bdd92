# config.json validation: a good config passes; every key has a bad case with a message that
# names the key; secrets are never echoed; writes are atomic.
import json
import os

from evse import config
from mptest import raises, requires_unix

BOARD = {"name": "two", "platform": "esp32", "connectors": [{}, {}]}
SIM_BOARD = {"name": "unix-sim", "platform": "unix", "connectors": [{}, {}]}
SECRET = "s3cr3t-Authoriz4tion"


def good():
    return {"charge_point_id": "CP-1", "csms_url": "ws://127.0.0.1:8000/ocpp", "public_code": "abc123",
            "authorization_key": SECRET, "public_url": "https://pay.example/p/{public_code}",
            "wifi": {"ssid": "bench", "password": "password1"}, "connectors": 2,
            "ocpp": {"HeartbeatInterval": 30, "MeterValuesSampledData": "Energy.Active.Import.Register"},
            "ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}


def keys(errors):
    return [k for k, _ in errors]


def bad(key, value, board=BOARD, expect=None):
    cfg = good()
    if value is _DELETE:
        del cfg[key]
    else:
        cfg[key] = value
    errors = config.validate(cfg, board)
    assert keys(errors) == [expect or key], f"{key}={value!r} gave {errors!r}"
    return errors[0][1]


_DELETE = object()


def test_good_config_is_valid():
    assert config.validate(good(), BOARD) == []
    assert config.validate({"charge_point_id": "a", "csms_url": "wss://csms.example.com/ocpp/v16",
                            "public_code": "Z"}) == []


def test_sim_section_on_the_unix_board():
    cfg = good()
    cfg["sim"] = {"ev_plugged": True, "power_w": 7400, "control_port": 7700, "fault": None}
    assert config.validate(cfg, SIM_BOARD) == []


def test_not_an_object():
    assert keys(config.validate([1, 2])) == ["config"]


def test_charge_point_id_bad():
    assert "missing" in bad("charge_point_id", _DELETE)
    bad("charge_point_id", "")
    bad("charge_point_id", "x" * 49)
    bad("charge_point_id", "CP 1")
    bad("charge_point_id", "CP/1")
    bad("charge_point_id", 12)
    assert config.validate(dict(good(), charge_point_id="x" * 48), BOARD) == []


def test_csms_url_bad():
    assert "missing" in bad("csms_url", _DELETE)
    assert "ws://" in bad("csms_url", "http://127.0.0.1:8000/ocpp")
    assert "trailing" in bad("csms_url", "ws://127.0.0.1:8000/ocpp/")
    bad("csms_url", "ws://")
    bad("csms_url", "ws://host/oc pp")
    bad("csms_url", None if False else 5)


def test_public_code_bad():
    assert "missing" in bad("public_code", _DELETE)
    bad("public_code", "")
    bad("public_code", "ABCDEFGHIJK")
    bad("public_code", "AB-12")
    bad("public_code", 123)


def test_authorization_key_bad_and_never_echoed():
    for v in ("short", "x" * 41, "has space in it 123", 1234567890123456):
        msg = bad("authorization_key", v)
        assert str(v) not in msg
    assert SECRET not in " ".join(config.messages(config.validate(good(), BOARD)))


def test_ca_cert_bad():
    bad("ca_cert", "MIIB not pem")
    bad("ca_cert", ["-----BEGIN CERTIFICATE-----"])


def test_public_url_bad():
    bad("public_url", "ftp://x/{public_code}")
    bad("public_url", "app.plugchoice.com/p/{public_code}")
    assert "too long" in bad("public_url", "https://x.example/" + "p" * 200)


def test_wifi_bad():
    bad("wifi", "bench")
    bad("wifi", {"ssid": "", "password": "password1"}, expect="wifi.ssid")
    bad("wifi", {"ssid": "x" * 33}, expect="wifi.ssid")
    msg = bad("wifi", {"ssid": "bench", "password": "short"}, expect="wifi.password")
    assert "short" not in msg
    bad("wifi", {"ssid": "bench", "password": "", "channel": 6})
    assert config.validate(dict(good(), wifi={"ssid": "open-net"}), BOARD) == []


def test_connectors_bad():
    bad("connectors", 0)
    assert "this board has 2" in bad("connectors", 3)
    bad("connectors", "2")
    bad("connectors", True)


def test_sim_bad():
    bad("sim", {"ev_plugged": True})  # not on an ESP32 board
    bad("sim", "yes", board=SIM_BOARD)
    bad("sim", {"ev_plugged": "yes"}, board=SIM_BOARD, expect="sim.ev_plugged")
    bad("sim", {"power_w": -1}, board=SIM_BOARD, expect="sim.power_w")
    bad("sim", {"control_port": 70000}, board=SIM_BOARD, expect="sim.control_port")
    bad("sim", {"fault": "fire"}, board=SIM_BOARD, expect="sim.fault")
    bad("sim", {"speed": 2}, board=SIM_BOARD, expect="sim.speed")


def test_installation_limits():
    """max_current_a: what the installation (cable, fuse) lets a connector offer, 6..80 A per
    phase like the pilot; phases: 1 or 3. Both optional."""
    for v in (6, 10, 16.5, 80):
        assert config.validate(dict(good(), max_current_a=v), BOARD) == [], v
    assert config.validate(dict(good(), phases=1), BOARD) == []
    assert config.validate(dict(good(), phases=3), BOARD) == []
    assert "6..80" in bad("max_current_a", 5.9)
    for v in (0, 81, -16, "16", True, [16], float("nan")):
        bad("max_current_a", v)
    assert "1 or 3" in bad("phases", 2)
    for v in (0, "3", 3.0, True, [1]):
        bad("phases", v)


def test_update_trial_seconds():
    """update_trial_s: how long an installed update runs, its BootNotification accepted, before
    it is kept (evse/install.py); 10..3600 s, optional (300)."""
    for v in (10, 300, 3600):
        assert config.validate(dict(good(), update_trial_s=v), BOARD) == [], v
    assert "10..3600" in bad("update_trial_s", 9)
    for v in (3601, -1, "300", 300.0, True, [300]):
        bad("update_trial_s", v)


def test_ocpp_bad():
    bad("ocpp", [("HeartbeatInterval", 30)])
    bad("ocpp", {"HeartbeatInterval": [30]}, expect="ocpp.HeartbeatInterval")


def test_unknown_key():
    assert "unknown" in bad("csms", "ws://x/ocpp")


def test_messages_one_line_per_bad_key():
    cfg = good()
    cfg["public_code"] = "!"
    cfg["connectors"] = 9
    lines = config.messages(config.validate(cfg, BOARD))
    assert len(lines) == 2
    assert lines[0].startswith("config public_code: ")
    assert lines[1].startswith("config connectors: ")


def test_public_url_template():
    assert config.public_url({"public_code": "abc1"}) == "https://app.plugchoice.com/p/ABC1"
    assert config.public_url({"public_code": "Z9", "public_url": "http://h/x?c={public_code}"}) == "http://h/x?c=Z9"


def test_save_is_atomic_and_load_normalizes_code():
    requires_unix()
    path = "config_test.json"
    config.save(dict(good(), public_code="ab12"), path)
    assert "config_test.json.tmp" not in os.listdir(".")
    cfg = config.load(path)
    assert cfg["public_code"] == "AB12"
    cfg["public_code"] = "zz"
    config.save(cfg, path)  # replaces the existing file
    assert config.load(path)["public_code"] == "ZZ"
    os.remove(path)


def test_load_missing_and_broken():
    requires_unix()
    raises(OSError, config.load, "no-such-config.json")
    with open("broken_config.json", "w") as f:
        f.write("{not json")
    raises(ValueError, config.load, "broken_config.json")
    os.remove("broken_config.json")
    assert json.loads(json.dumps(good()))  # the test config itself is plain JSON


def test_csms_url_port_must_be_a_port():
    """The port of csms_url is 1..65535 (ws://127.0.0.1:99999/ocpp was accepted)."""
    assert "1..65535" in bad("csms_url", "ws://127.0.0.1:99999/ocpp")
    assert "1..65535" in bad("csms_url", "ws://127.0.0.1:0/ocpp")
    assert "1..65535" in bad("csms_url", "ws://127.0.0.1:/ocpp")
    assert "host" in bad("csms_url", "ws://:8180/ocpp")
    cfg = good()
    for url in ("wss://[::1]:443/ocpp", "ws://host/ocpp", "ws://127.0.0.1:65535/ocpp"):
        cfg["csms_url"] = url
        assert config.validate(cfg, BOARD) == [], url


def test_csms_url_must_not_end_in_the_charge_point_id():
    """The firmware appends /{charge_point_id}: a URL that already ends in it gets HTTP 403."""
    why = bad("csms_url", "ws://127.0.0.1:8180/ocpp/CP-1")
    assert "write ws://127.0.0.1:8180/ocpp" in why


def test_csms_url_with_credentials_is_refused_without_echoing_them():
    """user:password@host would be stored, then printed by the console's answer and the logs:
    the password belongs in authorization_key."""
    for url in ("ws://cp1:hunter2-pw@127.0.0.1:8180/ocpp", "wss://hunter2-pw@csms.example.com/ocpp",
                "ws://127.0.0.1:8180/ocpp/a@hunter2-pw"):
        why = bad("csms_url", url)
        assert "'@'" in why and "authorization_key" in why, why
        assert "hunter2" not in why
