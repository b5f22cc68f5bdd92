# ClearCache: forget every idTag of the authorization cache (localauth.py); the local list stays
# (only SendLocalList edits it). Rejected when the cache could not be removed from flash.
from evse.ocpp.authorization import local


def answer(cp, p):
    return {"status": "Accepted" if local().clear() else "Rejected"}
