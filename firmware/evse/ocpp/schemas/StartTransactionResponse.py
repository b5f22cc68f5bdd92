# Generated from ocpp 2.1.0 (ocpp/v16/schemas/StartTransactionResponse.json) by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of
# host_tools/ocpp_schemas.py describes it.
S = (5,
 ('idTagInfo', 'transactionId'),
 ((5,
   ('expiryDate', 'parentIdTag', 'status'),
   ((3, 0, None, 1),
    (3, 20, None, 0),
    (3, 0, ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx'), 0)),
   ('status',),
   True),
  (1,)),
 ('idTagInfo', 'transactionId'),
 True)
