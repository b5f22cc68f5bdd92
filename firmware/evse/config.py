# config.json: the charger's identity, backend and options. One rule set, used at boot on the
# board and by the host tools (which run this very module in the unix port) before flashing.
import json

from evse.hal.display import DEFAULT_PUBLIC_URL, public_url  # noqa: F401 - one rule, re-exported

PATH = "config.json"
MAX_URL = 180  # bytes a version-9 QR code holds at error level M (qr.py's largest version)
_SIM_FAULTS = ("welded", "meter_lost")
_KEYS = ("charge_point_id", "csms_url", "public_code", "authorization_key", "ca_cert",
         "client_cert", "client_key", "public_url", "wifi", "connectors", "sim", "ocpp", "max_current_a",
         "phases", "update_trial_s")


def _ident(s):
    for ch in s:
        if not (ch.isalpha() or ch.isdigit() or ch in "._-") or ord(ch) > 127:
            return False
    return True


def _alnum(s):
    for ch in s:
        if not (ch.isalpha() or ch.isdigit()) or ord(ch) > 127:
            return False
    return True


def _host_part(url, schemes):
    for sch in schemes:
        if url.startswith(sch):
            rest = url[len(sch):]
            return rest.split("/", 1)[0]
    return None


def _port_error(host):
    # "host", "host:8180", "[::1]:8180": a host name, and a port 1..65535 (no "user@": refused).
    if host.startswith("["):
        name, _, port = host[1:].partition("]")
        if port and port[0] != ":":
            return "only :port may follow the IPv6 address"
        port = port[1:] if port else None
    else:
        name, colon, port = host.partition(":")
        port = port if colon else None
    if not name:
        return "has no host name: write ws://HOST:PORT/PATH"
    if port is not None and (not port.isdigit() or not 1 <= int(port) <= 65535):
        return "port '%s' must be a number 1..65535 (the local backend's is 8180)" % port
    return None


def _is_int(v):
    return type(v) is int


def validate(cfg, board=None):
    """Return a list of (key, reason); empty when the config is usable. Never raises, never
    echoes secrets (authorization_key, client_key, wifi password)."""
    if not isinstance(cfg, dict):
        return [("config", "must be a JSON object")]
    err = []
    for k in cfg:
        if k not in _KEYS:
            err.append((k, "unknown key (known: %s)" % ", ".join(_KEYS)))

    v = cfg.get("charge_point_id")
    if v is None:
        err.append(("charge_point_id", "missing"))
    elif not isinstance(v, str) or not 1 <= len(v) <= 48 or not _ident(v):
        err.append(("charge_point_id", "must be 1..48 characters of A-Z a-z 0-9 . _ -"))

    v = cfg.get("csms_url")
    if v is None:
        err.append(("csms_url", "missing"))
    elif not isinstance(v, str) or not _host_part(v, ("ws://", "wss://")):
        err.append(("csms_url", "must be a ws:// or wss:// URL, e.g. ws://192.168.1.10:8000/ocpp"))
    elif v.endswith("/"):
        err.append(("csms_url", "drop the trailing '/': the charge_point_id is appended as /<id>"))
    elif " " in v or "?" in v or "#" in v:
        err.append(("csms_url", "must not contain spaces, '?' or '#'"))
    elif "@" in v:
        # user:password@host would be printed wherever the URL is (console, logs, the probe)
        err.append(("csms_url", "must not contain '@' (user:password@host): put the password "
                    "in authorization_key, the charge_point_id is the user (value not shown)"))
    elif _port_error(_host_part(v, ("ws://", "wss://"))):
        err.append(("csms_url", _port_error(_host_part(v, ("ws://", "wss://")))))
    elif isinstance(cfg.get("charge_point_id"), str) and v.endswith("/" + cfg["charge_point_id"]):
        err.append(("csms_url", "ends in the charge_point_id, which the firmware appends itself: "
                    "write %s" % v[:-len(cfg["charge_point_id"]) - 1]))

    v = cfg.get("public_code")
    if v is None:
        err.append(("public_code", "missing"))
    elif not isinstance(v, str) or not 1 <= len(v) <= 10 or not _alnum(v):
        err.append(("public_code", "must be 1..10 letters or digits"))

    v = cfg.get("authorization_key")
    if v is not None and (not isinstance(v, str) or not 16 <= len(v) <= 40
                          or not all(32 < ord(c) < 127 for c in v)):
        err.append(("authorization_key", "must be 16..40 printable characters (value not shown)"))

    v = cfg.get("ca_cert")
    if v is not None and (not isinstance(v, str) or "-----BEGIN CERTIFICATE-----" not in v
                          or "-----END CERTIFICATE-----" not in v):
        err.append(("ca_cert", "must be PEM text with BEGIN/END CERTIFICATE lines"))

    _client(cfg, err)

    v = cfg.get("public_url")
    if v is not None:
        if not isinstance(v, str) or not _host_part(v, ("http://", "https://")) or " " in v:
            err.append(("public_url", "must be an http:// or https:// URL (may contain {public_code})"))
        elif len(public_url(cfg).encode()) > MAX_URL:
            err.append(("public_url", "too long for the QR code (max %d bytes)" % MAX_URL))

    v = cfg.get("wifi")
    if v is not None:
        if not isinstance(v, dict):
            err.append(("wifi", 'must be {"ssid": "...", "password": "..."}'))
        else:
            s, p = v.get("ssid"), v.get("password", "")
            extra = [k for k in v if k not in ("ssid", "password")]
            if not isinstance(s, str) or not 1 <= len(s) <= 32:
                err.append(("wifi.ssid", "must be 1..32 characters"))
            if not isinstance(p, str) or not (p == "" or 8 <= len(p) <= 63):
                err.append(("wifi.password", "must be empty (open network) or 8..63 characters (value not shown)"))
            if extra:
                err.append(("wifi", "unknown key %s (ssid, password)" % extra[0]))

    v = cfg.get("connectors")
    if v is not None:
        n = len(board["connectors"]) if board else 32
        if not _is_int(v) or not 1 <= v <= n:
            err.append(("connectors", "must be an integer 1..%d (this board has %d)" % (n, n)
                        if board else "must be a positive integer"))

    # The installation's limits: a cable or a fuse rated below the board's (boards/schema.json:
    # 6..80 A, the pilot's range), the phases wired. Smart charging never offers more.
    v = cfg.get("max_current_a")
    if v is not None and (type(v) not in (int, float) or not 6 <= v <= 80):
        err.append(("max_current_a", "must be a number 6..80 (A per phase the charger may offer)"))

    v = cfg.get("phases")
    if v is not None and (type(v) is not int or v not in (1, 3)):
        err.append(("phases", "must be 1 or 3 (the phases wired to the connectors)"))

    # An update on trial is kept after this long with its BootNotification accepted (and rolled
    # back when none is within 3 x this): evse/install.py.
    v = cfg.get("update_trial_s")
    if v is not None and (not _is_int(v) or not 10 <= v <= 3600):
        err.append(("update_trial_s", "must be an integer 10..3600 (seconds an update runs on trial)"))

    v = cfg.get("sim")
    if v is not None:
        if not isinstance(v, dict):
            err.append(("sim", "must be an object"))
        else:
            if board is not None and board.get("platform") != "unix":
                err.append(("sim", "only the unix-sim board has simulated hardware"))
            for k in v:
                x = v[k]
                if k == "ev_plugged":
                    ok = type(x) is bool
                elif k == "power_w":
                    ok = type(x) in (int, float) and 0 <= x <= 100000
                elif k == "control_port":
                    ok = _is_int(x) and 1 <= x <= 65535
                elif k == "fault":
                    ok = x is None or x in _SIM_FAULTS
                else:
                    err.append(("sim." + k, "unknown key (ev_plugged, power_w, control_port, fault)"))
                    continue
                if not ok:
                    err.append(("sim." + k, {"ev_plugged": "must be true or false",
                                             "power_w": "must be a number 0..100000",
                                             "control_port": "must be a port 1..65535",
                                             "fault": "must be welded, meter_lost or null"}[k]))

    v = cfg.get("ocpp")
    if v is not None:
        if not isinstance(v, dict):
            err.append(("ocpp", "must be an object of OCPP configuration keys"))
        else:
            for k in v:
                if type(v[k]) not in (str, int, bool):
                    err.append(("ocpp." + k, "must be a string, integer or boolean"))
            if "SecurityProfile" in v:
                _profile(cfg, v["SecurityProfile"], err)
    return err


def _profile(cfg, p, err):
    # ocpp.SecurityProfile above the profile the rest of config.json gives is a raise with no
    # way back (security.py's fall back is for a raise over OCPP only): it needs what the raised
    # connection uses, as ChangeConfiguration's (security.raise_profile), else the charger
    # could never connect. A key for 1 and 2, ca_cert for 2 and 3, a client certificate for 3.
    # (An AuthorizationKey set over OCPP, a root installed over OCPP: not known to config.json.)
    if type(p) is not int or not 0 <= p <= 3:
        err.append(("ocpp.SecurityProfile", "must be an integer 0..3"))
        return
    url = cfg.get("csms_url")
    tls = isinstance(url, str) and url.startswith("wss://")
    key = cfg.get("authorization_key") or cfg["ocpp"].get("AuthorizationKey")
    if p <= (3 if tls and cfg.get("client_key") else 2 if tls else 1 if key else 0):
        return  # what config.json gives anyway (boot.py's seed): no raise
    need = []
    if p <= 2 and not key:
        need.append("authorization_key")
    if p >= 2 and not cfg.get("ca_cert"):
        need.append("ca_cert")
    if p == 3 and not cfg.get("client_key"):
        need.append("client_cert and client_key")
    if need:
        err.append(("ocpp.SecurityProfile", "%d needs %s (security profile prerequisites), "
                    "or leave it out" % (p, ", ".join(need))))


def _client(cfg, err):
    # Security profile 3 (TLS client certificate): the charger's certificate and its private
    # key, both or neither, PEM text, over wss:// with a CA to check the server. The key's
    # text is never echoed, not even a part of it.
    cert, key = cfg.get("client_cert"), cfg.get("client_key")
    if cert is None and key is None:
        return
    from evse import drop
    from evse.ocpp.wstls import pem_block as der  # the TLS code's own reading: what passes here loads there
    drop("evse.ocpp.wstls")  # loaded again per connection
    if cert is not None and der(cert, "CERTIFICATE") is None:
        err.append(("client_cert", "must be PEM text with BEGIN/END CERTIFICATE lines"))
    if key is not None:
        if der(key, "PRIVATE KEY") is None:
            err.append(("client_key", "must be a PEM private key (BEGIN PRIVATE KEY, EC PRIVATE KEY "
                        "or RSA PRIVATE KEY) (value not shown)"))
        elif "ENCRYPTED" in key:
            err.append(("client_key", "is encrypted: the charger has no passphrase; give it "
                        "unencrypted (value not shown)"))
    if (cert is None) != (key is None):
        err.append(("client_key" if key is None else "client_cert",
                    "missing: client_cert and client_key go together (security profile 3)"))
    elif cert is not None:
        url = cfg.get("csms_url")
        if isinstance(url, str) and not url.startswith("wss://"):
            err.append(("client_cert", "needs a wss:// csms_url (a client certificate is TLS)"))
        if cfg.get("ca_cert") is None:
            err.append(("client_cert", "needs ca_cert too: the server's certificate is checked"))


def messages(errors):
    """Lines for the console and the display, one per bad key."""
    return ["config %s: %s" % e for e in errors]


def normalize(cfg):
    if isinstance(cfg.get("public_code"), str):
        cfg["public_code"] = cfg["public_code"].upper()
    return cfg


def load(path=PATH):
    """Read config.json. Raises OSError if it is missing, ValueError if it is not JSON."""
    with open(path) as f:
        cfg = json.load(f)
    if isinstance(cfg, dict):
        normalize(cfg)
    return cfg


def save(cfg, path=PATH):
    """Write atomically: a reboot mid-write leaves the old file or the new one, never half."""
    normalize(cfg)
    from evse.files import save_json

    save_json(path, cfg)
