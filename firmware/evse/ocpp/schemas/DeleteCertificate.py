# Generated from ocpp 2.1.0 (ocpp/v16/schemas/DeleteCertificate.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 1,
    'certificateHashData', (5, True, 4,
        'hashAlgorithm', (3, 0, ('SHA256', 'SHA384', 'SHA512'), 0),
        'issuerNameHash', (3, 128, None, 0),
        'issuerKeyHash', (3, 128, None, 0),
        'serialNumber', (3, 40, None, 0),),)
