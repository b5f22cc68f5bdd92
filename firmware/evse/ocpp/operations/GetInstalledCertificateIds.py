# GetInstalledCertificateIds (security whitepaper): the CertificateHashData (SHA-256, ed. 3) of
# every installed certificate of the type asked, the provisioned CA (config.json's ca_cert)
# with the CentralSystemRootCertificates; NotFound when there is none. The hashes are computed
# per call from the stored DER: at most CertificateStoreMaxLength + 1 of them.
from evse import drop
from evse.files import load_json
from evse.ocpp import certstore as cs

drop("evse.ocpp.certstore")


def answer(cp, p):
    found = []
    pem = load_json("config.json", {}).get("ca_cert")
    for _, der in cs.listed(cs.letter(p["certificateType"]), pem):
        try:
            found.append(cs.hash_data(der))
        except ValueError:  # stored before a parser change, say: not listed, still deletable by hand
            pass
    if not found:
        return {"status": "NotFound"}
    return {"status": "Accepted", "certificateHashData": found}
