# ChangeConfiguration: a writable key takes a value of its type within its range
# (settings.py's table), keeps it across reboots and takes effect at once; read-only keys and
# bad values are Rejected, unknown keys NotSupported (exact match only); in both cases nothing
# is stored. The rules are setting_rules.py's, the ones config.json and data/ocpp.json keep;
# SecurityProfile's are security.py's. A new AuthorizationKey or SecurityProfile closes the
# connection after the answer, to connect again with it.
import asyncio
from evse import drop
from evse.ocpp.settings import AUTH_KEY, spec


_PROFILE = const("SecurityProfile")
_ANSWER_MS = const(300)  # the answer goes out before the connection that carries it is closed


def answer(cp, p):
    # both strings within their lengths: the schema's (operations.answer checked it)
    key = p["key"]
    if key == _PROFILE:  # only raised, and only kept once it connected: security.py's rules
        from evse.ocpp import security
        drop("evse.ocpp.security")
        status = security.raise_profile(cp, p["value"])
    else:
        status = change(cp.settings, key, p["value"])
    if status == "Accepted":
        _apply(cp, key)
        if key == AUTH_KEY:  # whitepaper: a security parameter changed (the raise: security.py)
            from evse.ocpp.security_events import event
            event(cp, "ReconfigurationOfSecurityParameters", key)
    return {"status": status}


async def _reconnect(rpc):
    # A new AuthorizationKey or SecurityProfile is used from the next connection on (whitepaper,
    # TC_073, TC_083): this one ends once the answer is out, and the charge point's
    # reconnect loop opens the next with the new settings (security.plan).
    await asyncio.sleep_ms(_ANSWER_MS)
    try:
        await rpc.conn.close()
    except Exception:  # noqa: BLE001 - a connection already gone: the reconnect comes anyway
        pass


def _apply(cp, key):
    # What a changed key means for the running charge point, before the answer goes out.
    s = cp.settings
    for port in cp.ports:
        port.machine.timeout_s = s["ConnectionTimeOut"]
        port.machine.stop_on_unplug = s["StopTransactionOnEVSideDisconnect"]
    if key == "ClockAlignedDataInterval":
        cp.transactions.next_aligned = 0
    if cp.rpc:
        if key == _PROFILE or key == AUTH_KEY:
            asyncio.create_task(_reconnect(cp.rpc))
        if key == "WebSocketPingInterval":
            cp.rpc.conn.ping_interval = s[key]
        elif key == "MessageTimeout":
            cp.rpc.timeout_s = s[key]
    cp.wake.set()


def change(settings, key, text):
    """ChangeConfiguration status: Accepted, Rejected or NotSupported."""
    sp = None
    if key != AUTH_KEY:
        sp = spec(key)
        if sp is None:
            return "NotSupported"
        if not sp[1]:
            return "Rejected"
    from evse.ocpp import setting_rules
    drop("evse.ocpp.setting_rules")  # for this change only
    value = setting_rules.value(settings, key, sp, text)
    if value is None:
        return "Rejected"
    if key == AUTH_KEY:  # stored with its format marker (setting_rules.HEX): hex from now on
        settings.changed[setting_rules.HEX] = True
    settings.store(key, value)
    return "Accepted"
