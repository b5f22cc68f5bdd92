# Generated from ocpp 2.1.0 by host_tools/ocpp_schemas.py: do not edit, run `make schemas`.
# One module per action: S, the compact form of its schema (evse/ocpp/schema.py checks it).
