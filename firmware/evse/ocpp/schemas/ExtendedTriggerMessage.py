# Generated from ocpp 2.1.0 (ocpp/v16/schemas/ExtendedTriggerMessage.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 1,
    'requestedMessage', (3, 0, ('BootNotification', 'LogStatusNotification', 'FirmwareStatusNotification', 'Heartbeat', 'MeterValues', 'SignChargePointCertificate', 'StatusNotification'), 0),
    'connectorId', 1,)
