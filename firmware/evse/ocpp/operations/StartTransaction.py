# StartTransaction, sent by the charge point. Every one is built and confirmed by
# transactions.py (resident: it starts every session); this module holds the rare part: an
# answer whose idTagInfo is not Accepted.


def refused(cp, ref):
    # The transaction with our reference `ref` stops (DeAuthorized) when
    # StopTransactionOnInvalidId is set; otherwise it goes on without energy.
    for port in cp.ports:
        if port.tx and port.tx["r"] == ref:
            if cp.settings["StopTransactionOnInvalidId"]:
                port.apply("stop", "DeAuthorized")
            else:
                port.apply("deauthorize")
