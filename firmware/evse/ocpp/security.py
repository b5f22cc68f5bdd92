# The connection's security (OCPP 1.6 security whitepaper, ed. 2: security profiles 0..3):
# which URL, Basic auth password, CA and client certificate a connection uses, a raise of the
# SecurityProfile key (ChangeConfiguration), and the AuthorizationKey's password. Loaded per
# use (each connection attempt, such a ChangeConfiguration) and dropped after: nothing of it is
# resident, and the charger's private key is read from config.json only for a profile-3
# connection (boot.py keeps it out of the resident config).
#
# The profile in force is the higher of config.json's and the SecurityProfile the central
# system raised it to (data/ocpp.json):
#   config.json: wss:// csms_url with client_cert/client_key -> 3; wss:// -> 2; ws:// with an
#   authorization key (config.json's authorization_key, or the AuthorizationKey set over OCPP)
#   -> 1; else 0.
# At 2 and 3 a ws:// csms_url is opened as wss:// (same host, port and path: OCPP 1.6 has no
# key for another URL); at 3 no Basic auth is sent (whitepaper: the client certificate is the
# charger's identity).
import binascii

from evse.files import load_json

_CONFIG = const("config.json")
_KEY = const("AuthorizationKey")
_PROFILE = const("SecurityProfile")
_TLS_CLIENT = const(3)


def password(cfg, settings):
    """The Basic auth password as bytes, None without a key: the AuthorizationKey set over OCPP
    is hex (OCPP-J 1.6: the password is its decoded bytes), config.json's authorization_key is
    the password's text."""
    k = settings[_KEY]
    if k:
        return binascii.unhexlify(k)
    k = cfg.get("authorization_key")
    return k.encode() if k else None


def configured(cfg, settings):
    """The profile config.json gives (above)."""
    if cfg["csms_url"].startswith("wss://"):
        return _TLS_CLIENT if cfg.get("client_cert") else 2
    return 1 if password(cfg, settings) else 0


def plan(cfg, settings, cp):
    """The connection attempts, in order, each (profile, url, auth, cadata, client): the profile
    in force; after a raise the central system sent (cp.trial), the raised one first, and the
    profile in force to fall back on if it cannot connect (TC_083). The raise is tried once."""
    now = max(configured(cfg, settings), settings[_PROFILE])
    settings.set(_PROFILE, now)  # what GetConfiguration shows; data/ocpp.json keeps a raise only
    tries = []
    if cp.trial and cp.trial > now:
        tries.append(_attempt(cfg, settings, cp.trial))
    cp.trial = None
    tries.append(_attempt(cfg, settings, now))
    return tries


def _attempt(cfg, settings, profile):
    url = cfg["csms_url"]
    if profile >= 2 and url.startswith("ws://"):
        url = "wss://" + url[5:]
    url += "/" + cfg["charge_point_id"]
    auth = client = None
    if profile == _TLS_CLIENT:
        c = load_json(_CONFIG, {})  # the texts boot.py left on flash
        client = (c.get("client_cert"), c.get("client_key"))
    else:
        pw = password(cfg, settings)
        if pw:
            auth = (cfg["charge_point_id"], pw)
    return profile, url, auth, cfg.get("ca_cert"), client


def raise_profile(cp, text):
    """ChangeConfiguration SecurityProfile -> Accepted or Rejected. Whitepaper: a value not
    higher than the current one is Rejected; raising needs an AuthorizationKey for 1 and 2, a
    central system root certificate for 2 and 3, a charger certificate for 3, else Rejected.
    Accepted: the connection is opened again with it (ChangeConfiguration.py closes it), kept
    on flash only once it connected (app.py), else the old settings go on."""
    s = cp.settings
    if len(text) != 1 or not "0" <= text <= "3":  # digits only, the key's range
        return "Rejected"
    new = int(text)
    if new <= s[_PROFILE]:
        return "Rejected"
    cfg = load_json(_CONFIG, {})
    if new <= 2 and not password(cfg, s):
        return "Rejected"
    if new >= 2 and not cfg.get("ca_cert"):
        return "Rejected"
    if new == _TLS_CLIENT and not (cfg.get("client_cert") and cfg.get("client_key")):
        return "Rejected"
    cp.trial = new
    return "Accepted"
