# The console's answer to a host tool's "#evse?": what a tool must know before it interrupts
# the firmware, built only when asked, from the app's own state and the transactions' files.
import json
import os

from evse import console, status
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
        return json.loads(status.answer(CFG, FIELDS, shown, "n1"))
    a = _in_tmp(run)
    assert a["q"] == "n1" and a["version"] == "0.1.0" and a["board"] == "unix-sim"
    assert a["charge_point_id"] == "CP-7" and a["public_code"] == "ABC123"
    assert a["connectors"] == [[1, "Available"], [2, "Charging"]]
    assert a["transactions"] == [{"connector": 2, "ref": 7, "id_tag": "ABC", "start_wh": 100.0,
                                  "meter_wh": 1300.5}]
    assert a["deploy"] is None and a["authorised"] == []
    assert "never-in-the-answer" not in json.dumps(a)


def test_answer_names_the_connectors_authorised_and_waiting_for_the_cable():
    """A RemoteStart accepted on a connector without a cable: Preparing, an idTag held and no
    transaction yet; the app's held() says so, and a restart would lose it."""
    def run():
        shown = [[1, "Preparing"], [2, "Preparing"]]
        return json.loads(status.answer(CFG, FIELDS, shown, "n2", lambda: [(2, "RFID42")]))
    a = _in_tmp(run)
    assert a["transactions"] == [] and a["authorised"] == [{"connector": 2, "id_tag": "RFID42"}]


def test_deploy_digest_is_the_sha256_of_the_record():
    import binascii
    import hashlib

    body = b'{"main.py":"ab"}\n' * 20  # longer than the 128-byte read buffer

    def run():
        with open("deploy.json", "wb") as f:
            f.write(body)
        return status.digest("deploy.json")
    assert _in_tmp(run) == binascii.hexlify(hashlib.sha256(body).digest()).decode()
    assert status.digest("no-such-file.json") is None


class _Feed:
    """The console's stdin: `read(1)` gives the next character, "" at the end (stdin closed)."""

    def __init__(self, text):
        self.text = text
        self.i = 0

    async def read(self, n):
        ch = self.text[self.i:self.i + n]
        self.i += n
        return ch


def _serve(text, ask=None):
    import asyncio

    lines = []
    asyncio.run(console.serve(CFG, FIELDS, [[1, "Available"]], stream=_Feed(text), ask=ask,
                              out=lines.append))
    return lines


def test_serve_answers_only_whole_probe_lines():
    """Non-probe input and an overlong line (even one that starts like the probe) are
    ignored; the probe after them is answered."""
    def run():
        return _serve("print('hi')\r\n" + "x" * 300 + "\n#evse? " + "a" * 80 + "\r\n"
                      + "é#evse? no\n" + "#evse? n1\r\n")
    lines = _in_tmp(run)
    assert len(lines) == 1, lines
    assert lines[0].startswith("#evse ")
    a = json.loads(lines[0][6:])
    assert a["q"] == "n1" and a["connectors"] == [[1, "Available"]] and a["transactions"] == []


def test_serve_keeps_answering_after_an_answer_fails():
    """One MemoryError, OSError or KeyError must not end the console task for good: the
    failed question gets an error answer and the next ones are served as usual."""
    calls = []

    def ask(cfg, fields, shown, nonce, held):
        calls.append(nonce)
        if nonce == "m1":
            raise MemoryError("memory allocation failed, allocating 512 bytes")
        if nonce == "o2":
            raise OSError(5)
        if nonce == "k3":
            raise KeyError('tag"\\')
        return json.dumps({"q": nonce, "ok": True})

    lines = _serve("#evse? m1\r\n#evse? o2\n#evse? k3\n#evse? ok4\r\n", ask)
    assert calls == ["m1", "o2", "k3", "ok4"]
    assert len(lines) == 4, lines
    answers = [json.loads(line[6:]) for line in lines]
    assert answers[0]["q"] == "m1" and len(answers[0]) == 2
    assert answers[0]["error"].startswith("MemoryError: memory allocation failed")
    assert answers[1]["q"] == "o2" and answers[1]["error"].startswith("OSError")
    assert answers[2]["q"] == "k3" and answers[2]["error"].startswith("KeyError")
    assert answers[3] == {"q": "ok4", "ok": True}


def test_serve_survives_a_transaction_file_it_cannot_read():
    """The real answer, on a transaction file without the keys it needs (KeyError)."""
    def run():
        save_json("data/tx1.json", {"r": 7})
        return _serve("#evse? e1\n#evse? e2\n")
    lines = _in_tmp(run)
    assert [json.loads(x[6:])["q"] for x in lines] == ["e1", "e2"]
    assert json.loads(lines[1][6:])["error"].startswith("KeyError")
