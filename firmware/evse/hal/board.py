# Board assembly: board.json (pins, meter, display, connectors) + config.json -> a Board whose
# outlets the app drives. Only the parts a board names are imported: the unix-sim board pulls in
# hal.sim, an ESP32 board hal.esp32 and just the meter driver it uses. The parts they share
# (Board, Outlet, NoDisplay, connector_count) are in hal/__init__.py, so neither imports this
# module back.
from evse.hal import Board, NoDisplay, Outlet, connector_count  # noqa: F401 - the board's API


def build(board, config):
    if board.get("platform") == "unix":
        from evse.hal import sim
        b = sim.build(board, config)
    else:
        from evse.hal import esp32
        b = esp32.build(board, config)
    if isinstance(config.get("public_code"), str):
        # The QR encoder needs ~14 KB for a moment: run it now, before the OCPP stack is loaded.
        from evse.hal.display import public_url
        b.display.prime(public_url(config))
        import gc
        gc.collect()
    return b
