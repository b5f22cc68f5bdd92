# The connection's security (OCPP 1.6 security whitepaper, ed. 2: security profiles 0..3):
# which URL, Basic auth password, CA and client certificate a connection uses, a raise of the
# SecurityProfile key (ChangeConfiguration), and the AuthorizationKey's password. Loaded per
# use (each connection attempt, such a ChangeConfiguration) and dropped after: nothing of it is
# resident, and the certificates and the charger's private key are read from config.json for
# a TLS connection only (boot.py keeps them out of the resident config). A ws:// connection at profile 0 or
# 1, never raised, does without it (app.py).
#
# The profile in force (GetConfiguration's SecurityProfile) is the higher of config.json's and
# the SecurityProfile the central system raised it to (data/ocpp.json: settings' value):
#   config.json: wss:// csms_url with client_cert/client_key -> 3; wss:// -> 2; ws:// with an
#   authorization key (config.json's authorization_key, or the AuthorizationKey set over OCPP)
#   -> 1; else 0.
# At 2 and 3 a ws:// csms_url is opened as wss:// (same host, port and path: OCPP 1.6 has no
# key for another URL); at 3 no Basic auth is sent (whitepaper: the client certificate is the
# charger's identity).
import binascii

from evse import drop
from evse.files import load_json
from evse.log import log

_CONFIG = const("config.json")
_KEY = const("AuthorizationKey")
_PROFILE = const("SecurityProfile")
_TLS_CLIENT = const(3)
_TRIAL = const("trial")


def password(cfg, settings):
    """The Basic auth password as bytes, None without a key: the AuthorizationKey set over OCPP
    is hex (OCPP-J 1.6: the password is its decoded bytes), config.json's authorization_key is
    the password's text."""
    k = settings[_KEY]
    if k:
        return binascii.unhexlify(k)
    k = cfg.get("authorization_key")
    return k.encode() if k else None


def in_force(cfg, settings):
    """The profile in force (above): config.json's, or the one raised over OCPP if higher.
    `cfg`: the resident config (its client_cert is True when set: boot.py) or config.json."""
    if cfg["csms_url"].startswith("wss://"):
        p = _TLS_CLIENT if cfg.get("client_cert") else 2
    else:
        p = 1 if password(cfg, settings) else 0
    return max(p, settings[_PROFILE])


def connect(ws, cfg, settings):
    """The coroutine that opens the connection of the profile in force: ws.connect's own, so
    that nothing of this module is held while it runs (app.py drops it first). After a raise
    the central system sent (settings.trial), one that tries the raised profile first and, if
    it cannot connect, the old settings at once (TC_083); a raise that connected is kept
    (data/ocpp.json). A raise is tried once."""
    now = in_force(cfg, settings)
    new = getattr(settings, _TRIAL, None)
    if new:
        setattr(settings, _TRIAL, None)
        if new > now:
            return _trial(ws, cfg, settings, new, now)
    return _open(ws, cfg, settings, now)


async def _trial(ws, cfg, settings, new, now):
    try:
        conn = await _open(ws, cfg, settings, new)
    except ws.WSError as e:
        log("security profile", "tried", new, "error", repr(e)[:80], "back_to", now)
        return await _open(ws, cfg, settings, now)
    settings.store(_PROFILE, new)
    log("security profile", "raised", new)
    from evse.ocpp.security_events import event  # the security log (logged, not sent)
    event(None, "ReconfigurationOfSecurityParameters", "SecurityProfile %d" % new)
    return conn


def _open(ws, cfg, settings, profile):
    url = cfg["csms_url"]
    if profile >= 2 and url.startswith("ws://"):
        url = "wss://" + url[5:]
    url += "/" + cfg["charge_point_id"]
    auth = ca = None
    if profile >= 2:
        c = load_json(_CONFIG, {})  # the texts boot.py left on flash
        ca = c.get("ca_cert")
        if profile == _TLS_CLIENT:
            ca = (ca, c.get("client_cert"), c.get("client_key"))  # ws.connect's form for it
        del c
    if profile < _TLS_CLIENT:
        pw = password(cfg, settings)
        if pw:
            auth = (cfg["charge_point_id"], pw)
    return ws.connect(url, "ocpp1.6", auth, ca, ping_interval=settings["WebSocketPingInterval"])


def _has_ca(cfg):
    # A CentralSystemRootCertificate: an installed one counts, the provisioned ca_cert only if
    # DeleteCertificate did not drop it (wstls.cas: the CAs a wss:// connection would try).
    from evse.ocpp import wstls
    drop("evse.ocpp.wstls")
    return bool(wstls.cas(cfg.get("ca_cert")))


def raise_profile(cp, text):
    """ChangeConfiguration SecurityProfile -> Accepted or Rejected. Whitepaper: a value not
    higher than the current one is Rejected; raising needs an AuthorizationKey for 1 and 2, a
    central system root certificate for 2 and 3, a charger certificate for 3, else Rejected.
    Accepted: the connection is opened again with it (ChangeConfiguration.py closes it), kept
    on flash only once it connected (connect), else the old settings go on."""
    s = cp.settings
    if len(text) != 1 or not "0" <= text <= "3":  # digits only, the key's range
        return "Rejected"
    new = int(text)
    cfg = load_json(_CONFIG, {})
    if new <= in_force(cfg, s):
        return "Rejected"
    if new <= 2 and not password(cfg, s):
        return "Rejected"
    if new >= 2 and not _has_ca(cfg):
        return "Rejected"
    if new == _TLS_CLIENT and not (cfg.get("client_cert") and cfg.get("client_key")):
        return "Rejected"
    # The raise to try, in RAM only: an attribute the Settings object has only while a raise
    # waits (nothing resident for it otherwise). And for this boot, not on flash, the profile in
    # force as the key's value, so that app.py's connect, which loads this module only when
    # the key is set, hands the next connection to connect() above.
    setattr(s, _TRIAL, new)
    s.set(_PROFILE, in_force(cfg, s))
    return "Accepted"
