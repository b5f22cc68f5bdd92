# A signed update's check after its download (evse/ocpp/firmware.py, or ocpp/download.py in a
# download boot): the file's SHA-256 the download recorded (the job's state, "sha"), the signing
# key and the signature that operations/SignedUpdateFirmware.py saved at the CALL, in
# data/fwsig.json {"kind": "RSA"|"EC", "key": [hex, hex], "sig": base64}. A module of its own,
# loaded for this one moment and dropped: neither the CALL (the heap's tightest moment of a
# signed update) nor an unsigned update holds its code.
from evse import drop
from evse.files import load_json
from evse.log import log

_SIG = const("data/fwsig.json")


def verified(cp, st):
    """True when the signing certificate's key verifies the signature of the downloaded file
    (its SHA-256 in st["sha"]); else False, with the security event InvalidFirmwareSignature
    (the job then ends InvalidSignature). `cp` None in a download boot: the event is queued on
    flash for the session."""
    sig = load_json(_SIG)
    ok = False
    try:
        import binascii

        from evse import signature
        key = tuple(int(k, 16) for k in sig["key"])
        digest = binascii.unhexlify(st["sha"])
        ok = signature.verify_firmware(sig["kind"], key, digest, binascii.a2b_base64(sig["sig"]))
    except (ValueError, KeyError, TypeError) as e:  # the file gone or damaged: not verified
        log("firmware", "signature", repr(e)[:60])
    finally:
        drop("evse.signature")
    if not ok:
        from evse.ocpp.security_events import event
        event(cp, "InvalidFirmwareSignature", "firmware signature does not verify")
    return ok
