# Generated from ocpp 2.1.0 (ocpp/v16/schemas/UpdateFirmware.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 2,
    'location', (3, 0, None, 2),
    'retrieveDate', 8,
    'retries', 1,
    'retryInterval', 1,)
