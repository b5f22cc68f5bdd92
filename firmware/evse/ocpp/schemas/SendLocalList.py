# Generated from ocpp 2.1.0 (ocpp/v16/schemas/SendLocalList.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 2,
    'listVersion', 1,
    'updateType', (3, 0, ('Differential', 'Full'), 0),
    'localAuthorizationList', (6, (5, True, 1,
        'idTag', (3, 20, None, 0),
        'idTagInfo', (5, True, 1,
            'status', (3, 0, ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx'), 0),
            'expiryDate', 8,
            'parentIdTag', (3, 20, None, 0),),), 0),)
