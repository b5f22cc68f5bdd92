# Generated from ocpp 2.1.0 (ocpp/v16/schemas/InstallCertificate.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 2,
    'certificateType', (3, 0, ('CentralSystemRootCertificate', 'ManufacturerRootCertificate'), 0),
    'certificate', (3, 5500, None, 0),)
