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
    if not errors:
        _security(cfg)
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


def _security(cfg):
    # The profile a wss:// csms_url gives (2; 3 with the charger's certificate) is the
    # SecurityProfile key's value from the start (a central system can only raise it): app.py's
    # connect loads ocpp/security.py when it is set, and a ws:// charger never raised needs none.
    # The certificates and the charger's private key stay on flash, read per TLS connection
    # (security.py): neither the key nor their 1-5 KB of PEM sits in the heap all session.
    # What stays is whether they are set.
    tls_client = cfg.pop("client_key", None) is not None
    if tls_client:
        cfg["client_cert"] = True
    if cfg.get("ca_cert"):
        cfg["ca_cert"] = True
    if cfg["csms_url"].startswith("wss://"):
        o = cfg.get("ocpp") or {}
        v = o.get("SecurityProfile")
        o["SecurityProfile"] = max(v if type(v) is int else 0, 3 if tls_client else 2)
        cfg["ocpp"] = o


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
    forever. Host tools' "#evse?" gets an answer here too: a silent board would be refused.
    An update on trial that refuses the config it found rolls back and reboots instead."""
    _trial_refused(errors)

    def halted(_cfg, _fields, _shown, nonce, _held):  # relays open, no session can run
        return json.dumps({"q": nonce, "halted": errors})

    asyncio.create_task(console.serve(cfg, fields, (), ask=halted))
    for line in errors:
        log("config", "error", line)
    display.show("", None, [], errors[0][:21])
    while True:
        await asyncio.sleep(60)


def _trial_refused(errors):
    # A new version whose config.validate refuses the config.json the old one ran with would
    # halt here for good: no crash, so neither main.py's guard nor the trial's check (it runs in
    # the session) would ever roll it back. The version that accepted the config comes back.
    try:
        open("app/boot.json").close()
    except OSError:
        return  # no update installed: the config itself is at fault
    from evse import install
    b = install.status()
    if b and b["state"] == "trial":
        install.rollback("config refused: " + errors[0][:40])
        log("update", "config_refused", b["version"])
        from evse import Reboot
        raise Reboot("firmware")
