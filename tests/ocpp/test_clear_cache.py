"""ClearCache by its effect, not only its answer: an idTag the Authorization Cache holds as
Accepted starts a transaction offline before ClearCache, and is refused offline after it, also
after a power cycle (the cache lives in flash, so the clearing must too)."""

from __future__ import annotations

from ocpp.v16 import call

OFFLINE_CACHE_ONLY = {"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": False,
                      "AuthorizationCacheEnabled": True, "ConnectionTimeOut": 1}


async def go_offline(station, n):
    await station.server.stop()
    await station.fw.wait_log(r"ocpp disconnected", n=n)


async def test_clear_cache_forgets_an_accepted_id_tag(station):
    """ClearCache.req: "Upon receipt of a ClearCache.req PDU, the Charge Point SHALL attempt to
    clear its Authorization Cache". LocalAuthorizeOffline: "whether the Charge Point, when
    offline, will start a transaction for locally-authorized identifiers"; with
    AllowOfflineTxForUnknownId false, an identifier the cache no longer holds is not one."""
    await station.start(ocpp_keys=OFFLINE_CACHE_ONLY)
    await station.booted()
    srv = station.server

    # Online: Authorize answers Accepted and the charge point caches it.
    await station.sim(cmd="idtag", connector=1, id_tag="CARD42")
    await srv.wait_msg("Authorize", id_tag="CARD42")
    await srv.wait_msg("StatusNotification", n=2, connector_id=1, status="Available", timeout=5)

    # Before ClearCache: offline, the cached card starts (and the card then stops) a transaction.
    await go_offline(station, 1)
    await station.plug()
    await station.sim(cmd="idtag", connector=1, id_tag="CARD42")
    await station.fw.wait_log(r"tx start connector=1 .*id_tag=CARD42")
    await station.sim(cmd="idtag", connector=1, id_tag="CARD42")
    await station.fw.wait_log(r"tx stop connector=1 .*reason=Local")
    await station.plug(plugged=False)
    await srv.start()
    await srv.wait_msg("StopTransaction", timeout=15)
    await srv.wait(lambda: srv.cp if len(srv.cps) >= 2 else None, what="the reconnection")

    assert (await srv.cp.call(call.ClearCache())).status == "Accepted"

    # After ClearCache: offline, the same card is refused and nothing starts.
    await go_offline(station, 2)
    starts = len(station.fw.log_matches(r"tx start"))
    await station.plug()
    await station.sim(cmd="idtag", connector=1, id_tag="CARD42")
    await station.fw.wait_log(r"authorize connector=1 result=refused offline")
    assert len(station.fw.log_matches(r"tx start")) == starts

    # ... and still after a power cycle, booting without the central system.
    station.fw.kill()
    await station.fw.wait_log(r"app started", n=2, timeout=15)
    await station.sim(cmd="idtag", connector=1, id_tag="CARD42")
    await station.fw.wait_log(r"authorize connector=1 result=refused offline", n=2)
    assert len(station.fw.log_matches(r"tx start")) == starts
    assert [kw["id_tag"] for kw in srv.actions("StartTransaction")] == ["CARD42"]
