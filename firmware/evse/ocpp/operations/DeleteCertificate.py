# DeleteCertificate (security whitepaper): the installed certificate its CertificateHashData
# names, of either type, answered
#   Accepted  deleted (TC_076: "Accepted", not the whitepaper prose's "Success"): every copy it
#             names (a root installed as both types) but the one in use
#   NotFound  no installed certificate has that hash data
#   Failed    only the CentralSystemRootCertificate the current connection was verified with (a
#             charger must never be left without the CA it is connected by: a rotation
#             installs the new root first, and deletes the old one once the charger is
#             connected with the new), or the flash failing
# The provisioned CA (config.json's ca_cert) is deleted by marking it dropped (certstore.py).
from evse import drop
from evse.files import load_json
from evse.log import log
from evse.ocpp import certstore as cs

drop("evse.ocpp.certstore")


def answer(cp, p):
    h = p["certificateHashData"]
    pem = load_json("config.json", {}).get("ca_cert")
    # Every copy the hash names (one root installed as both types, or the provisioned CA
    # installed again): each one deleted but the one in use; Failed when that is all there is.
    found = cs.find(h, pem, "CM", True)
    status = "NotFound" if not found else "Failed"
    used = cs.in_use()
    for name in found:
        if name != used:
            try:
                cs.delete(name, pem)
                status = "Accepted"
            except OSError:
                log("certificate delete", "name", name, "status", "Failed")
    log("certificate delete", "name", ",".join(found) or None, "status", status)
    return {"status": status}
