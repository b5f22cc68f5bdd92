# Wiring: config.json + board.json -> board, connectors, OCPP charge point; then the asyncio
# tasks: the board's own (sim control server...), the console, the OCPP connection, and the
# hardware loop that polls the outlets, feeds the watchdog and redraws the display.
# Errors: every task outlives its own. A connector whose part of the loop raises is tripped
# (relay open, Faulted: transactions.Port.trip); the console drops the line and reads on
# (console.serve); the OCPP connection ends and is opened again (ChargePoint.run); the loop
# logs and goes on, every connector tripped when their poll itself failed, and gives up after
# _GIVE_UP failed passes in a row: main.py's crash guard opens every relay and restarts.
import gc
from binascii import unhexlify

import asyncio
from evse import Reboot, drop
from evse.log import keep, log

_POLL_MS = const(250)
_GIVE_UP = const(40)  # failed passes in a row (10 s): the loop cannot do its job, restart
_MEM_EVERY = const(240)  # polls: once a minute
_WATCH_EVERY = const(40)  # polls: an update on trial is checked every 10 s (evse/install.py)
_GC_THRESHOLD = const(2048)  # bytes allocated between collections
board = None  # main.py's crash guard opens its relays


async def main():
    global board
    keep()  # the log on flash too, from here (evse/log.py)
    # A collection every 2 KB of allocation, not only when the heap is full: start-up loads code
    # and drops what it used once (boot, config, the QR code...), a session drops frames and
    # per-use modules; collected early, what stays is packed and the heap keeps the large
    # blocks (the qstr pool's growth, a frame, a module) that a full-heap collection would find
    # cut up. On an ESP32 a collection of its 56 KB region takes a few ms.
    gc.threshold(_GC_THRESHOLD)
    for name in ("wait_for", "Lock", "Event", "open_connection"):
        # asyncio loads these parts on first use: load them now, into a heap still in one
        # piece, rather than mid-session into a fragmented one.
        getattr(asyncio, name)
    from evse import boot  # start-up only: dropped right after use, with evse.config
    cfg, board_dict, errors, public_url, fields = boot.prepare()
    watch = boot.watching(cfg)  # an update on trial, or its failure to report: else None
    fetch = boot.fetching()  # a firmware download boot (evse/ocpp/firmware.py)
    del boot
    drop("evse.boot")
    gc.collect()  # boot and config freed as one region, which the resident code then fills
    from evse.hal.board import build
    board = build(board_dict, cfg)
    del board_dict, build
    drop("evse.hal.board")  # assembly only: the board's parts it imported stay with the board
    if fetch and not errors:  # the download alone, the relays open, no session; then Reboot into the session
        from evse.ocpp import download
        await download.download_boot()
    from evse import console  # host tools' "#evse?": asked before they interrupt the board
    if errors:  # start-up's other ending, in boot.py too (loaded again for it): never returns
        from evse import boot
        await boot.halt(console, board.display, cfg, fields, errors)
    from evse.ocpp import ws  # all code loads now, into a heap still in one piece
    from evse.ocpp.chargepoint import ChargePoint
    from evse.ocpp.journal import Journal
    from evse.ocpp.settings import Settings
    settings = Settings(cfg.get("ocpp"), len(board.outlets))
    code = cfg["public_code"]
    shown = [[i + 1, "Available"] for i in range(len(board.outlets))]
    dirty = [True]

    def on_status(cid, state):
        if cid:
            shown[cid - 1][1] = state
            dirty[0] = True

    cp = ChargePoint(settings, board.outlets, Journal("data/journal.log"),
                     fields, on_status)
    url = cfg["csms_url"].rstrip("/") + "/" + cfg["charge_point_id"]
    log("ocpp", "url", url, "tls", int(url.startswith("wss")))

    async def connect():
        if settings["SecurityProfile"]:
            # TLS (boot.py seeds SecurityProfile with 2 or 3 for a wss:// csms_url), a raise to
            # try (security.raise_profile sets it), a profile raised over OCPP: security.py,
            # loaded for the connection
            from evse.ocpp import security
            drop("evse.ocpp.security")
            c = security.connect(ws, cfg, settings)
            del security  # freed before the TLS set-up, the connection's peak
            return await c
        # Profile 0 or 1 on ws://, the common case, loads nothing: the password is the
        # AuthorizationKey set over OCPP (hex: its bytes) or config.json's authorization_key
        key = settings["AuthorizationKey"]
        key = unhexlify(key) if key else cfg.get("authorization_key")
        return await ws.connect(url, "ocpp1.6", (cfg["charge_point_id"], key) if key else None,
                                ping_interval=settings["WebSocketPingInterval"])

    for t in board.tasks():
        asyncio.create_task(t)

    def held():  # authorised, waiting for the cable: a restart would drop the idTag
        return [(p.id, p.machine.id_tag) for p in cp.ports
                if p.machine.id_tag is not None and not p.machine.tx]

    asyncio.create_task(console.serve(cfg, fields, shown, held))
    await cp.poll()  # the first states, before the first connection (an error: main.py)
    asyncio.create_task(cp.run(connect))
    gc.collect()
    log("app started", "connectors", len(board.outlets), "mem_alloc", gc.mem_alloc(), "mem_free", gc.mem_free())
    n = 0
    failed = 0  # passes in a row whose connectors' poll raised
    shown_banner = 0
    while True:
        n += 1
        try:
            if n % _MEM_EVERY == 0:  # heap after a collection: a leak shows as a steady climb
                gc.collect()
                log("mem", "alloc", gc.mem_alloc(), "free", gc.mem_free())
            await cp.poll()
            failed = 0
            if watch and n % _WATCH_EVERY == 0:
                from evse import install
                watch = install.check(cp, watch)  # keep, or roll back (then cp.reset reboots)
                del install
                drop("evse.install")
        except Reboot:
            raise
        except Exception as e:  # noqa: BLE001 - the connectors were not watched this pass
            failed += 1
            for p in cp.ports:  # each logs it once
                p.trip(e)
            if failed >= _GIVE_UP:
                raise  # main.py: every relay open, restart
        try:
            board.watchdog.feed()
            banner = None if cp.reg == "Accepted" and cp.rpc else "offline"
            if dirty[0] or banner != shown_banner:
                dirty[0] = False
                shown_banner = banner
                board.display.show(code, public_url, shown, banner)
        except Exception as e:  # noqa: BLE001 - watchdog and display hold no relay: log, go on
            log("loop error", "error", repr(e)[:60])  # the display is drawn on changes only
        await asyncio.sleep_ms(_POLL_MS)
