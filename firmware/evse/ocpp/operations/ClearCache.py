# ClearCache: forget every idTag of the authorization cache.


def answer(cp, p):
    cp.authorization.clear()
    return {"status": "Accepted"}
