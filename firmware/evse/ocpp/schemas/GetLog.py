# Generated from ocpp 2.1.0 (ocpp/v16/schemas/GetLog.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 3,
    'logType', (3, 0, ('DiagnosticsLog', 'SecurityLog'), 0),
    'requestId', 1,
    'log', (5, True, 1,
        'remoteLocation', (3, 512, None, 0),
        'oldestTimestamp', 8,
        'latestTimestamp', 8,),
    'retries', 1,
    'retryInterval', 1,)
