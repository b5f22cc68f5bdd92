# RemoteStopTransaction: stop the transaction with this transactionId (known once its
# StartTransaction was confirmed). Resident (the route table in __init__.py): ending a session
# must never depend on free heap.


def answer(cp, p):
    port = cp.transactions.find(p["transactionId"]) if cp.reg == "Accepted" else None
    if port is None:
        return {"status": "Rejected"}
    return {"status": "Accepted" if port.apply("stop", "Remote") else "Rejected"}
