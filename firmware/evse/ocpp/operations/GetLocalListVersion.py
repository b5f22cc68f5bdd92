# GetLocalListVersion: the listVersion of the local authorization list (localauth.version):
# -1 while LocalAuthListEnabled is false, 0 when there is no list.
from evse.ocpp.authorization import local


def answer(cp, p):
    return {"listVersion": local().version(cp)}
