# Generated from ocpp 2.1.0 (ocpp/v16/schemas/ChangeConfiguration.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 2,
    'key', (3, 50, None, 0),
    'value', (3, 500, None, 0),)
