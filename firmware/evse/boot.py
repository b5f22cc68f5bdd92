# What the app needs only while it starts: read config.json and board.json, validate, the
# BootNotification fields, Wi-Fi. Imported once by app.main and dropped with evse.config; and
# again, for halt(), when config.json is bad.
import json

import asyncio

from evse import drop
from evse.log import log

VERSION = "0.1.0"


def prepare():
    """-> (cfg, board_dict, config errors as lines, public_url, BootNotification fields)."""
    from evse import config
    cfg = config.load()
    with open("board.json") as f:
        board_dict = json.load(f)
    errors = config.messages(config.validate(cfg, board_dict))
    url = config.public_url(cfg)
    del config
    drop("evse.config")  # its validation code is not needed again: free the heap it holds
    fields = {"chargePointVendor": "MicroEVSE", "chargePointModel": board_dict.get("name", "evse")[:20],
              "chargePointSerialNumber": cfg["charge_point_id"][:25], "firmwareVersion": VERSION}
    _wifi(cfg)
    # The start-up's security event (StartupOfTheDevice, or none after a Reset), written now,
    # while the heap is still in one piece; sent after BootNotification Accepted
    from evse.ocpp.security_events import booted
    booted()
    return cfg, board_dict, errors, url, fields


def watching(cfg):
    """An update on trial or a failure to report (app/boot.json): evse.install's watch state,
    else None. The file is looked for first, so that a board without updates loads nothing."""
    try:
        open("app/boot.json").close()
    except OSError:
        return None
    from evse import install
    w = install.watching(cfg)
    drop("evse.install")
    return w


def fetching():
    """True when this boot is a firmware download boot (data/fw.json's "dl", set by
    evse/ocpp/firmware.py when the session's heap has no room for the download)."""
    from evse.files import load_json
    st = load_json("data/fw.json")
    return type(st) is dict and st.get("dl") == 1


def _wifi(cfg):
    # Station mode on boards with a radio; the OCPP connect loop retries until the link is up.
    w = cfg.get("wifi")
    if not w:
        return
    try:
        import network
    except ImportError:
        return  # the unix port: the host's network is already there
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    if not sta.isconnected():
        sta.connect(w["ssid"], w.get("password", ""))
    log("wifi", "ssid", w["ssid"])


async def halt(console, display, cfg, fields, errors):
    """A bad config.json: relays stay open, the reason stays on the display and the console,
    forever. Host tools' "#evse?" gets an answer here too: a silent board would be refused."""
    def halted(_cfg, _fields, _shown, nonce, _held):  # relays open, no session can run
        return json.dumps({"q": nonce, "halted": errors})

    asyncio.create_task(console.serve(cfg, fields, (), ask=halted))
    for line in errors:
        log("config", "error", line)
    display.show("", None, [], errors[0][:21])
    while True:
        await asyncio.sleep(60)
