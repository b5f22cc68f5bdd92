# Generated from ocpp 2.1.0 (ocpp/v16/schemas/SetChargingProfile.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5, True, 2,
    'connectorId', 1,
    'csChargingProfiles', (5, True, 5,
        'chargingProfileId', 1,
        'stackLevel', 1,
        'chargingProfilePurpose', (3, 0, ('ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'), 0),
        'chargingProfileKind', (3, 0, ('Absolute', 'Recurring', 'Relative'), 0),
        'chargingSchedule', (5, True, 2,
            'chargingRateUnit', (3, 0, ('A', 'W'), 0),
            'chargingSchedulePeriod', (6, (5, True, 2,
                'startPeriod', 1,
                'limit', 7,
                'numberPhases', 1,), 0),
            'duration', 1,
            'startSchedule', 8,
            'minChargingRate', 7,),
        'transactionId', 1,
        'recurrencyKind', (3, 0, ('Daily', 'Weekly'), 0),
        'validFrom', 8,
        'validTo', 8,),)
