# The local authorization list and the authorization cache inside MicroPython, without a
# network: SendLocalList's rules (Full, Differential, versions, the maxima, nothing changed on
# a refusal), the cache's (what it keeps, what a full one drops), and how Authorize.present
# decides from them. Over the wire, against the `ocpp` package: tests/ocpp/test_local_list.py.
import asyncio

from evse.ocpp import iso, now
from evse.ocpp.authorization import local
from evse.ocpp.operations import Authorize
from evse.ocpp.rpc import CallError
from test_handlers import call, charge_point, done, flash


def send(cp, version, kind="Full", entries=None):
    p = {"listVersion": version, "updateType": kind}
    if entries is not None:
        p["localAuthorizationList"] = entries
    return call(cp, "SendLocalList", p)["status"]


def entry(tag, status="Accepted", expiry=None, parent=None):
    info = {"status": status}
    if expiry is not None:
        info["expiryDate"] = expiry
    if parent is not None:
        info["parentIdTag"] = parent
    return {"idTag": tag, "idTagInfo": info}


def version(cp):
    return call(cp, "GetLocalListVersion", {})["listVersion"]


def known(cp, tag):
    e = local().lookup(cp, tag)
    return None if e is None else e[1]


def test_full_then_differential():
    # 5.15: "In case of a full update, the Local Authorization List SHALL be replaced";
    # "a differential update ... SHALL be applied": with idTagInfo added or updated, without deleted.
    d = flash()
    cp = charge_point()
    assert version(cp) == 0
    assert send(cp, 1, "Full", [entry("A"), entry("B", "Blocked"), entry("C")]) == "Accepted"
    assert version(cp) == 1 and known(cp, "a") == "Accepted" and known(cp, "B") == "Blocked"
    assert send(cp, 2, "Differential", [entry("b"), {"idTag": "C"}, entry("D", parent="P")]) == "Accepted"
    assert version(cp) == 2
    assert [known(cp, t) for t in "ABCD"] == ["Accepted", "Accepted", None, "Accepted"]
    assert local().lookup(cp, "d")[3] == "P"
    assert send(cp, 3, "Full", [entry("E")]) == "Accepted"
    assert [known(cp, t) for t in "ABDE"] == [None, None, None, "Accepted"]
    assert send(cp, 4, "Full") == "Accepted" and version(cp) == 4 and known(cp, "E") is None
    assert send(cp, 0, "Full", []) == "Accepted" and version(cp) == 0  # OCTT's listVersion 0
    done(d)


def test_refusals_leave_the_list_untouched():
    d = flash()
    cp = charge_point()
    assert send(cp, 5, "Full", [entry("A")]) == "Accepted"
    assert send(cp, 5, "Differential", [entry("B")]) == "VersionMismatch"
    assert send(cp, 4, "Differential", [entry("B")]) == "VersionMismatch"
    most = cp.settings["SendLocalListMaxLength"]
    assert send(cp, 6, "Full", [entry("T%d" % i) for i in range(most + 1)]) == "Failed"
    assert send(cp, 6, "Full", [entry("B"), {"idTag": "C"}]) == "Failed"  # Full needs idTagInfo
    assert send(cp, -1, "Full", [entry("B")]) == "Failed"
    assert version(cp) == 5 and known(cp, "A") == "Accepted" and known(cp, "B") is None
    # the list's own maximum, reached by Differential updates
    total = cp.settings["LocalAuthListMaxLength"]
    v = 6
    n = 1
    while n + most <= total:
        assert send(cp, v, "Differential", [entry("X%d" % (n + i)) for i in range(most)]) == "Accepted"
        n += most
        v += 1
    rest = total - n
    assert send(cp, v, "Differential", [entry("Y%d" % i) for i in range(rest + 1)]) == "Failed"
    assert version(cp) == v - 1 and known(cp, "Y0") is None
    assert send(cp, v, "Differential", [entry("Y%d" % i) for i in range(rest)]) == "Accepted"
    assert known(cp, "X1") == "Accepted" and known(cp, "A") == "Accepted"
    # disabled: NotSupported, and GetLocalListVersion -1
    cp.settings.store("LocalAuthListEnabled", False)
    assert version(cp) == -1 and send(cp, v + 1, "Full", []) == "NotSupported"
    assert known(cp, "A") is None
    cp.settings.store("LocalAuthListEnabled", True)
    assert version(cp) == v
    done(d)


def test_schema_faults_are_callerrors():
    d = flash()
    cp = charge_point()
    bad = [
        ({"updateType": "Full"}, "OccurenceConstraintViolation"),
        ({"listVersion": "1", "updateType": "Full"}, "TypeConstraintViolation"),
        ({"listVersion": 1, "updateType": "Partial"}, "PropertyConstraintViolation"),
        ({"listVersion": 1, "updateType": "Full", "localAuthorizationList": [{"idTag": "X" * 21}]},
         "PropertyConstraintViolation"),
        ({"listVersion": 1, "updateType": "Full", "localAuthorizationList": [entry("A", "Maybe")]},
         "PropertyConstraintViolation"),
        ({"listVersion": 1, "updateType": "Full", "localAuthorizationList": [entry("A", expiry="soon")]},
         "PropertyConstraintViolation"),
        ({"listVersion": 1, "updateType": "Full", "localAuthorizationList": [{"idTagInfo": {"status": "Accepted"}}]},
         "OccurenceConstraintViolation"),
        ({"listVersion": 1, "updateType": "Full", "localAuthorizationList": {}}, "TypeConstraintViolation"),
        ({"listVersion": 1, "updateType": "Full", "extra": 1}, "FormationViolation"),
    ]
    for p, code in bad:
        try:
            call(cp, "SendLocalList", p)
            raise AssertionError("no CALLERROR for %r" % (p,))
        except CallError as e:
            assert e.code == code, (p, e.code)
    try:
        call(cp, "GetLocalListVersion", {"x": 1})
        raise AssertionError("no CALLERROR")
    except CallError as e:
        assert e.code == "FormationViolation"
    assert version(cp) == 0
    done(d)


def test_cache_keeps_id_tag_info_and_drops_invalid_first():
    d = flash()
    cp = charge_point()
    auth = cp.authorization
    auth.remember("P1", {"status": "Accepted", "parentIdTag": "PARENT"})
    assert local().lookup(cp, "p1") == [False, "Accepted", None, "PARENT"]
    auth.remember("OLD", {"status": "Accepted", "expiryDate": iso(now() - 10)})
    assert known(cp, "OLD") == "Expired"
    auth.remember("BAD", {"status": "Blocked"})
    for i in range(29):
        auth.remember("T%d" % i, {"status": "Accepted"})
    assert known(cp, "T28") == "Accepted" and known(cp, "P1") == "Accepted"
    auth.remember("NEW1", {"status": "Accepted"})  # full: the expired one goes first
    assert known(cp, "OLD") is None and known(cp, "BAD") == "Blocked"
    auth.remember("NEW2", {"status": "Accepted"})  # then the blocked one
    assert known(cp, "BAD") is None and known(cp, "P1") == "Accepted"
    auth.remember("NEW3", {"status": "Accepted"})  # then the oldest
    assert known(cp, "P1") is None and known(cp, "NEW3") == "Accepted" and known(cp, "T0") == "Accepted"
    # a listed idTag is never cached: the list answers for it
    assert send(cp, 1, "Full", [entry("LISTED", "Blocked")]) == "Accepted"
    auth.remember("listed", {"status": "Accepted"})
    assert local().lookup(cp, "LISTED")[:2] == [True, "Blocked"]
    cp.settings.store("LocalAuthListEnabled", False)
    assert known(cp, "LISTED") is None  # not in the cache either
    assert call(cp, "ClearCache", {}) == {"status": "Accepted"}
    assert known(cp, "NEW3") is None
    done(d)


def test_present_uses_the_list_before_the_cache():
    d = flash()
    cp = charge_point(plugged=True, keys={"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": True})
    asyncio.run(cp.poll())
    auth = cp.authorization
    assert send(cp, 1, "Full", [entry("LISTED"), entry("blocked", "Blocked"),
                                entry("GONE", expiry=iso(now() - 5)), entry("LATER", expiry=iso(now() + 600))]) == "Accepted"
    auth.remember("BLOCKED", {"status": "Accepted"})  # listed: not cached, the list wins
    cp.reg = None  # offline
    assert not Authorize.present(cp, 1, "Blocked")
    assert not Authorize.present(cp, 1, "gone")  # expired
    assert Authorize.present(cp, 1, "later") and cp.port(1).machine.id_tag == "later"
    assert Authorize.present(cp, 2, "UNKNOWN")  # AllowOfflineTxForUnknownId
    done(d)


def test_online_local_pre_authorize():
    d = flash()
    cp = charge_point(plugged=True, keys={"LocalPreAuthorize": True})
    asyncio.run(cp.poll())
    cp.rpc = object()  # online: present() only looks at it being there
    assert send(cp, 1, "Full", [entry("LISTED"), entry("BLOCKED", "Blocked")]) == "Accepted"
    assert Authorize.present(cp, 1, "listed") and cp.port(1).machine.id_tag == "listed"
    assert cp.authorization.queue == []
    assert Authorize.present(cp, 2, "BLOCKED") and cp.authorization.queue == [(2, "BLOCKED")]
    cp.rpc = None
    done(d)


def test_answers_without_a_usable_id_tag_info_teach_nothing():
    # StopTransaction.conf may carry no idTagInfo; nothing else may break a transaction's
    # bookkeeping through the cache either.
    d = flash()
    cp = charge_point()
    auth = cp.authorization
    for info in (None, {}, {"status": 5}, [], "Accepted"):
        auth.remember("T1", info, True)
    assert known(cp, "T1") is None
    auth.remember("T2", {"status": "Accepted", "expiryDate": 5, "parentIdTag": 7})
    assert local().lookup(cp, "T2") == [False, "Accepted", None, None]
    done(d)


def test_an_expiry_date_counts_as_passed_until_the_clock_is_set():
    """After a power cut the board's clock is not the central system's until a currentTime
    (ocpp.clock_set, set_time): an entry with an expiryDate, listed or cached, is Expired until
    then (it cannot be told from one that has passed); one without stays Accepted."""
    from evse import ocpp
    d = flash()
    cp = charge_point()
    later = iso(now() + 3600)
    assert send(cp, 1, "Full", [entry("A", expiry=later), entry("B")]) == "Accepted"
    cp.authorization.remember("C", {"status": "Accepted", "expiryDate": later})
    ocpp.clock_set = False  # as at an ESP32's boot, offline
    try:
        assert [known(cp, t) for t in "ABC"] == ["Expired", "Accepted", "Expired"]
        ocpp.set_time(iso(now()))
        assert ocpp.clock_set
        assert [known(cp, t) for t in "ABC"] == ["Accepted", "Accepted", "Accepted"]
    finally:
        ocpp.clock_set = True
    done(d)
