# The console's answer to a host tool's "#evse?": what a tool must know before it interrupts
# the firmware, built only when asked, from the app's own state and the transactions' files.
import json
import os

from evse import console
from evse.files import remove, save_json

CFG = {"charge_point_id": "CP-7", "csms_url": "ws://10.0.0.2:8180/ocpp", "public_code": "ABC123",
       "authorization_key": "never-in-the-answer-0123"}
FIELDS = {"firmwareVersion": "0.1.0", "chargePointModel": "unix-sim"}
_DIR = "console_test_tmp"


def _in_tmp(fn):
    try:
        os.mkdir(_DIR)
    except OSError:
        pass
    here = os.getcwd()
    os.chdir(_DIR)
    try:
        return fn()
    finally:
        for p in ("data/tx1.json", "data/tx2.json", "deploy.json"):
            remove(p)
        try:
            os.rmdir("data")
        except OSError:
            pass
        os.chdir(here)
        os.rmdir(_DIR)


def test_answer_names_the_open_transactions_from_their_files():
    def run():
        save_json("data/tx2.json", {"r": 7, "tag": "ABC", "s": 100.0, "m": 1300.5, "mt": 5})
        shown = [[1, "Available"], [2, "Charging"]]
        return json.loads(console.answer(CFG, FIELDS, shown, "n1"))
    a = _in_tmp(run)
    assert a["q"] == "n1" and a["version"] == "0.1.0" and a["board"] == "unix-sim"
    assert a["charge_point_id"] == "CP-7" and a["public_code"] == "ABC123"
    assert a["connectors"] == [[1, "Available"], [2, "Charging"]]
    assert a["transactions"] == [{"connector": 2, "ref": 7, "id_tag": "ABC", "start_wh": 100.0,
                                  "meter_wh": 1300.5}]
    assert a["deploy"] is None
    assert "never-in-the-answer" not in json.dumps(a)


def test_deploy_digest_is_the_sha256_of_the_record():
    import binascii
    import hashlib

    body = b'{"main.py":"ab"}\n' * 20  # longer than the 128-byte read buffer

    def run():
        with open("deploy.json", "wb") as f:
            f.write(body)
        return console.digest("deploy.json")
    assert _in_tmp(run) == binascii.hexlify(hashlib.sha256(body).digest()).decode()
    assert console.digest("no-such-file.json") is None
