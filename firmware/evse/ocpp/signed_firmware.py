# A signed update's check after its download (evse/ocpp/firmware.py, or ocpp/download.py in a
# download boot): the file's SHA-256 the download recorded (the job's state, "sha"), the signing
# key and the signature that operations/SignedUpdateFirmware.py saved at the CALL, in
# data/fwsig.json {"kind": "RSA"|"EC", "key": [hex, hex], "sig": base64}. A module of its own,
# loaded for this one moment and dropped: neither the CALL (the heap's tightest moment of a
# signed update) nor an unsigned update holds its code.
import asyncio

from evse import drop, ocpp
from evse.files import load_json
from evse.log import log

_SIG = const("data/fwsig.json")
_WAIT_S = const(10)  # the longest sleep before installDateTime: the clock may be set meanwhile


async def checked(cp, st, set_status):
    """After Downloaded (firmware.py, which passes its status setter): the signature, verified
    now or by the download boot ("sig"), then installDateTime ("inst"): SignatureVerified,
    InstallScheduled until then. False when the signature does not verify (the job then ends
    InvalidSignature)."""
    if "sig" not in st:
        st["sig"] = int(verified(cp, st))  # its security event on a failure
    if not st["sig"]:
        # InvalidSignature: the bundle staged (a bad one was removed as it was found) goes.
        # stage_dir() empties the inactive slot; it refuses (ValueError) while an update is on
        # trial, when that slot holds what a rollback goes back to. Here, not in firmware.py:
        # the job's code sits in the session's heap all the update long.
        try:
            from evse import install
            drop("evse.install")
            import os
            os.rmdir(install.stage_dir())
        except Exception as e:  # noqa: BLE001 - the next update's stage_dir() empties it anyway
            log("firmware", "discard", repr(e)[:60])
        return False
    set_status(cp, st, "SignatureVerified")
    if st.get("inst", 0) > ocpp.now():
        set_status(cp, st, "InstallScheduled")
        while ocpp.now() < st["inst"]:
            await asyncio.sleep(min(st["inst"] - ocpp.now(), _WAIT_S))
    return True


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
