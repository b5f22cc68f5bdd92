# Generated from ocpp 2.1.0 (ocpp/v16/schemas/SignedUpdateFirmware.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 2,
    'requestId', 1,
    'firmware', (5, True, 4,
        'location', (3, 512, None, 0),
        'retrieveDateTime', 8,
        'signingCertificate', (3, 5500, None, 0),
        'signature', (3, 800, None, 0),
        'installDateTime', 8,),
    'retries', 1,
    'retryInterval', 1,)
