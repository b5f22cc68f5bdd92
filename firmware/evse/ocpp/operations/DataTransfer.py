# DataTransfer: no vendor extensions here, so every vendorId is unknown.
from evse.ocpp.rpc import field


def answer(cp, p):
    field(p, "vendorId", str, maxlen=255)
    field(p, "messageId", str, req=False, maxlen=50)
    return {"status": "UnknownVendorId"}
