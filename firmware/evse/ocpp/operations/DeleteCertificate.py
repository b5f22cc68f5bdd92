# DeleteCertificate (security whitepaper): the installed certificate its CertificateHashData
# names, of either type, answered
#   Accepted  deleted (TC_076: "Accepted", not the whitepaper prose's "Success")
#   NotFound  no installed certificate has that hash data
#   Failed    the CentralSystemRootCertificate the current connection was verified with (a
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
    name = cs.find(h, pem)
    if name is None:
        status = "NotFound"
    elif name == cs.in_use():
        status = "Failed"
    else:
        try:
            cs.delete(name, pem)
            status = "Accepted"
        except OSError:
            status = "Failed"
    log("certificate delete", "name", name, "status", status)
    return {"status": status}
