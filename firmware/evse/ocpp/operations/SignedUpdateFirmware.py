# SignedUpdateFirmware (security whitepaper ed. 2, "Secure firmware update"): the signing
# certificate is checked here, before anything is downloaded, and the update is then the job of
# evse/ocpp/firmware.py with its requestId (SignedFirmwareStatusNotification, the file hashed as
# it downloads, the signature verified after Downloaded). Answered
#   InvalidCertificate  the signing certificate is not PEM/DER that parses, cannot sign
#                       firmware (evse/signer.py: a CA, a key that is not RSA 2048..4096
#                       with a sane exponent or P-256, keyUsage or extendedKeyUsage that
#                       exclude code signing, an unknown critical extension), was not issued by an
#                       installed ManufacturerRootCertificate (its issuer Name is a root's
#                       subject and the root's key verifies its signature), or is outside its
#                       validity by a set clock: + security event
#                       InvalidFirmwareSigningCertificate ("the Charge Point SHALL respond with
#                       InvalidCertificate and ... SHALL send a SecurityEventNotification")
#   Rejected            the signature is not base64 of a plausible length, an update is
#                       Installing (the switch and its reboot cannot be called back), or the
#                       flash would not take the signature
#   AcceptedCanceled    accepted, and the update under way was cancelled for it
#   Accepted            the update starts (at retrieveDateTime)
# RevokedCertificate is never answered: the charger has no revocation list.
from evse import drop, ocpp
from evse.files import save_json
from evse.log import log
from evse.ocpp.rpc import PROPERTY, CallError

_EVERY_S = const(30)  # retryInterval absent: the charge point decides (as UpdateFirmware.py)
_MAX_TRIES = const(10)
_MAX_EVERY_S = const(86400)
_SIG = const("data/fwsig.json")  # read by evse/ocpp/signed_firmware.py after the download
_CERTS = const("data/certs")  # ocpp/certstore.py's folder
_MAX_SIG = const(1024)  # bytes: an RSA-4096 signature is 512, a DER ECDSA one at most 72


def _roots():
    # The installed ManufacturerRootCertificates, read from flash one at a time: the store's
    # files as ocpp/certstore.py documents them (data/certs/M<n>.der), read here without its
    # code (~2 KB of heap at the moment this CALL needs the most). One that does not parse any
    # more is skipped.
    import os

    from evse import x509
    try:
        names = [e[0] for e in os.ilistdir(_CERTS) if e[0][:1] == "M" and e[0].endswith(".der")]
    except OSError:  # no store: no root
        return
    for name in names:
        try:
            with open(_CERTS + "/" + name, "rb") as f:
                der = f.read()
            yield x509.Certificate(der)
        except (OSError, ValueError):
            log("firmware", "root unreadable", name)


def _signing_key(pem):
    """(why the signing certificate cannot vouch for a firmware file or None, its (key type,
    key) when it could be read)."""
    from evse import x509
    try:
        c = x509.load(pem)
    except ValueError as e:
        return "unreadable: " + str(e), None
    from evse import signer
    drop("evse.signer")
    try:
        why = signer.why(c)
    except ValueError:
        why = "extensions unreadable"
    del signer
    if why is not None:
        return why, None
    import gc
    gc.collect()  # signer's code freed before the chain's arithmetic
    from evse import signature
    return signature.verify_chain(c, _roots(), ocpp.now() if ocpp.clock_set else None), (c.key_type, c.key)


def answer(cp, p):
    fw = p["firmware"]
    at = ocpp.parse_iso(fw["retrieveDateTime"])
    inst = fw.get("installDateTime")
    if inst is not None:
        inst = ocpp.parse_iso(inst)
    retries = p.get("retries", 1)
    every = p.get("retryInterval", _EVERY_S)
    if at is None:  # the schema's date-time check lets through what parse_iso cannot read
        raise CallError(PROPERTY, "retrieveDateTime")
    if "installDateTime" in fw and inst is None:
        raise CallError(PROPERTY, "installDateTime")
    if retries < 0:
        raise CallError(PROPERTY, "retries")
    if every < 0:
        raise CallError(PROPERTY, "retryInterval")
    try:
        why, key = _signing_key(fw["signingCertificate"])
    finally:
        drop("evse.signature")
        drop("evse.x509")
    req = p["requestId"]
    if why is not None:
        log("firmware", "signing certificate", why, "requestId", req)
        from evse.ocpp.security_events import event
        event(cp, "InvalidFirmwareSigningCertificate", why[:60])
        return {"status": "InvalidCertificate"}
    import binascii
    try:
        n = len(binascii.a2b_base64(fw["signature"]))
    except ValueError:
        n = 0
    if not 8 <= n <= _MAX_SIG:
        log("firmware", "signature unreadable", "requestId", req)
        return {"status": "Rejected"}
    from evse.ocpp import firmware
    drop("evse.ocpp.firmware")
    busy = getattr(cp, "firmware", None) is not None  # set only while an update runs
    if busy and firmware.status() == "Installing":
        return {"status": "Rejected"}
    # the key, not the certificate: the check after the download then reads no certificate
    try:
        save_json(_SIG, {"kind": key[0], "key": ["%x" % k for k in key[1]], "sig": fw["signature"]})
    except OSError as e:  # the flash: no update can start, the one under way goes on
        log("firmware", "signature not stored", repr(e)[:40])
        return {"status": "Rejected"}
    st = {"loc": fw["location"], "at": at, "tries": min(retries, _MAX_TRIES) or 1,
          "every": min(every, _MAX_EVERY_S), "st": "Idle", "requestId": req}
    if inst is not None:
        st["inst"] = inst
    firmware.start(cp, st)
    return {"status": "AcceptedCanceled" if busy else "Accepted"}
