# DataTransfer: no vendor extensions here, so every vendorId is unknown (the schema checked
# vendorId, messageId and data: nothing of the payload is used).


def answer(cp, p):
    return {"status": "UnknownVendorId"}
