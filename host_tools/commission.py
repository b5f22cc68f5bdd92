"""`chargerctl commission`: the technician's end-to-end check of one installed charger.

Seven steps, in order; each passes or fails with a detail a person can act on, and after the
first failure the rest are skipped (they would only fail for the same reason):

    board      the running firmware answers the probe on --port (host_tools.board_probe),
               or, when the app does not run, the raw REPL answers
    config     the config the firmware runs with (the probe's answer; else config.json,
               checked by the firmware's own rules) has public_code --code
    online     the backend sees the charger online (public lookup of --code)
    session    a public session starts and its payment is confirmed (same code as `session`)
    charging   relay closed and energy rising: on a virtual board from the simulated
               hardware's state, on a real board from the session's energy_kwh
    stopped    the stop is accepted and the relay opens
    settled    the session completes and captured <= authorized

A running app is never interrupted: the probe answers without it, and a transaction open on
--connector is refused (exit TRANSACTION_OPEN), as is a board that does not say (no answer,
or an error answer: STATE_UNKNOWN), unless force. Only a board at its REPL (the app does not
run: no transaction can be open), or one forced, is read through the raw REPL and restarted;
the `online` step then waits for it to reconnect. Afterwards the connector is left as it was found: on a
virtual board the simulated EV is unplugged and plugged in again (Finishing -> Preparing); on
a real board the report says to unplug it (`Report.connector_left`).
The report is printed and written as JSON; exit 0 only when every step passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from host_tools import driver
from host_tools.commission_report import (
    FAIL,
    PASS,
    SKIP,
    STEPS,
    Report,
    StepFailed,
    StepResult,
    Timeouts,
)
from host_tools.driver import Client, DriverError, money
from host_tools.exits import Exit

# Re-exported: the check's vocabulary (tests and `chargerctl commission` import it from here).
__all__ = ["FAIL", "PASS", "SKIP", "STEPS", "Commissioning", "Report", "StepFailed", "StepResult",
           "Timeouts"]


class Commissioning:
    """One commissioning run; `run()` returns the Report. Reused by tests and `make demo`."""

    def __init__(self, port: str, code: str, connector: int, api: str | None = None, *,
                 control_port: int | None = None, email: str | None = None,
                 timeouts: Timeouts | None = None, restart_board: bool = True,
                 use_sim: bool = True, stripe_secret_key: str | None = None,
                 poll_s: float = driver.MIN_POLL_S,
                 on_step: Callable[[StepResult], None] | None = None, force: bool = False):
        self.port, self.code, self.connector = port, code, connector
        self.client = Client(api)
        self.control_port = control_port if use_sim else None
        # The simulated EV is unplugged and plugged in again afterwards even with use_sim=False
        # (which is about judging the energy): a virtual board is left as it was found.
        self.sim_port = control_port
        self.email = email
        self.t = timeouts or Timeouts()
        self.restart_board = restart_board
        self.use_sim = use_sim  # False: judge energy by the backend only, as on a real board
        self.stripe_secret_key = stripe_secret_key
        self.poll_s = poll_s
        self.on_step = on_step
        self.report = Report(port, code, connector, self.client.api)
        self.token: str | None = None
        self.session: dict = {}
        self._reset_at: float | None = None
        self._board_name: str | None = None
        self._link: Any = None  # the board's raw REPL, open between the board and config steps
        self._state: Any = None  # the running firmware's answer to the probe (board_probe)
        self.force = force  # run even while a transaction is open on the connector
        self._plugged_before: bool | None = None  # the simulated EV, before the session

    # --- the run -------------------------------------------------------------------------------
    def run(self) -> Report:
        checks = {"board": self._board, "config": self._config, "online": self._online,
                  "session": self._session, "charging": self._charging,
                  "stopped": self._stopped, "settled": self._settled}
        failed = False
        try:
            for name, title in STEPS:
                step = StepResult(name, title)
                self.report.steps.append(step)
                if failed:
                    step.detail = "skipped after an earlier failure"
                else:
                    t0 = time.monotonic()
                    try:
                        step.detail = checks[name]() or ""
                        step.status = PASS
                    except (StepFailed, DriverError) as err:
                        step.status, step.detail, failed = FAIL, str(err), True
                        self.report.exit_code = int(getattr(err, "exit_code", Exit.STEP_FAILED)
                                                    if isinstance(err, StepFailed) else Exit.STEP_FAILED)
                    except Exception as err:  # noqa: BLE001 - a report must always come out
                        step.status, failed = FAIL, True
                        self.report.exit_code = int(Exit.STEP_FAILED)
                        step.detail = f"unexpected {type(err).__name__}: {err}"
                    step.seconds = round(time.monotonic() - t0, 2)
                if self.on_step:
                    self.on_step(step)
        finally:
            link, self._link = self._link, None
            if link is not None and link.transport is not None:
                self._restart(link)  # never leave the firmware stopped at the REPL
            self._leave_no_session_behind()
            if self.token:
                self.report.connector_left = self._leave_connector()
            self.client.close()
        return self.report

    def _leave_no_session_behind(self) -> None:
        """A failed check must not leave the charger charging or a payment held."""
        if not self.token or self.session.get("status") in driver.TERMINAL:
            return
        for action in ("cancel", "stop"):
            try:
                getattr(self.client, action)(self.token)
                return
            except DriverError:
                continue

    # --- the steps -----------------------------------------------------------------------------
    def _board(self) -> str:
        from host_tools.board_link import BoardLink, BoardUnreachable
        from host_tools.board_probe import PortUnavailable, Refused, look

        try:
            self._state = look(self.port, self.force, {self.connector},
                               "the check needs this connector free for its test session")
        except PortUnavailable as err:
            raise StepFailed(f"{err}. Check the cable/port (chargerctl devices), that the board "
                             "is powered and that nothing else uses the port.", Exit.UNREACHABLE) from None
        except Refused as err:
            raise StepFailed(str(err), err.exit_code) from None
        if self._state is not None and not self._state.error:
            d = self._state.data
            return (f"firmware {d.get('version')} on {d.get('board')} answers on {self.port} "
                    "(not interrupted)")
        self._state = None  # --force on an unknown state: read the board through its REPL
        try:  # a REPL answered (no transaction can be open), or --force: the raw REPL is used
            self._link = BoardLink(self.port, timeout=self.t.board)
        except BoardUnreachable as err:
            raise StepFailed(f"{err}. Check the cable/port (chargerctl devices) and that the "
                             "board is powered.", Exit.UNREACHABLE) from None
        impl = self._on_board(lambda link: link.eval(
            "'%s %s on %s' % (__import__('sys').implementation.name, '.'.join(str(x) for x in "
            "__import__('sys').implementation.version[:3]), __import__('sys').platform)"))
        return f"{impl} answers on {self.port} (its firmware was not running)"

    def _on_board(self, fn: Callable[[Any], Any]) -> Any:
        from host_tools.board_link import BoardError, BoardUnreachable

        try:
            return fn(self._link)
        except BoardUnreachable as err:
            raise StepFailed(f"the board stopped answering: {err}", Exit.UNREACHABLE) from None
        except BoardError as err:
            raise StepFailed(f"the board raised: {err}") from None

    def _read_config(self) -> tuple[dict, dict | None, int | None]:
        """(config, board file, connector count): what the firmware runs with, from the probe;
        else config.json and board.json read through the raw REPL and checked by the
        firmware's own rules (host_tools.board_files, as flash does)."""
        if self._state is not None:
            d = self._state.data
            cfg = {k: d.get(k) for k in ("charge_point_id", "csms_url", "public_code", "sim")}
            return cfg, {"name": d.get("board")}, len(d.get("connectors") or []) or None
        from host_tools import board_files, flash

        try:
            files = self._on_board(board_files.read)
        except flash.ConfigInvalid as err:
            raise StepFailed(f"{err}") from None
        finally:
            link, self._link = self._link, None
            self._restart(link)
        if files.config is None:
            raise StepFailed("the board has no config.json; provision it with chargerctl flash "
                             "--config FILE (or chargerctl config set).")
        try:
            board_files.check_config(files.config, files.board)
        except flash.ConfigInvalid as err:
            detail = "; ".join(f"{k}: {why}" for k, why in err.errors)
            raise StepFailed(f"config.json is invalid: {detail}. Fix it with chargerctl config "
                             "set.", Exit.CONFIG) from None
        except (flash.BuildFailed, flash.ToolMissing) as err:
            raise StepFailed(f"cannot check config.json: {err}", err.exit_code) from None
        board = files.board if isinstance(files.board, dict) else None
        connectors = files.config.get("connectors") or len((board or {}).get("connectors") or [])
        return files.config, board, connectors or None

    def _config(self) -> str:
        cfg, board, connectors = self._read_config()
        on_board = str(cfg.get("public_code") or "").upper()
        if on_board != self.code.upper():
            raise StepFailed(f"the board's public_code is {on_board or '(none)'}, not "
                             f"{self.code.upper()}: this is another charger, or its config is "
                             "wrong (chargerctl config set public_code ...).")
        sim = cfg.get("sim") if isinstance(cfg.get("sim"), dict) else {}
        if self.sim_port is None and sim.get("control_port"):
            self.sim_port = int(sim["control_port"])
        if self.control_port is None and self.use_sim:
            self.control_port = self.sim_port
        self._board_name = (board or {}).get("name")
        if connectors and not 1 <= self.connector <= connectors:
            raise StepFailed(f"connector {self.connector} does not exist: the board has "
                             f"{connectors}.")
        return (f"{cfg.get('charge_point_id')} -> {cfg.get('csms_url')}, public code {on_board}"
                + (f", board {self._board_name}" if self._board_name else ""))

    def _restart(self, link: Any) -> None:
        # The raw REPL stopped the firmware; boot it again (machine.reset / virtual power cycle).
        self._reset_at = None
        if self.restart_board:
            link.reset()
            self._reset_at = time.monotonic()
            time.sleep(0.5)  # let the backend notice the old connection close first
        else:
            link.close()

    def _online(self) -> str:
        """Online, and through the connection made after the restart.

        A virtual board's old WebSocket closes with its process, so the backend sees it go at
        once. A real board's reset sends nothing: the backend may call it online on the old,
        dead connection until it times out. So unless the charger was seen offline since the
        restart, "online" only counts after `Timeouts.boot` seconds.
        """
        deadline = time.monotonic() + self.t.online
        seen_offline = self._reset_at is None or self.virtual
        while True:
            data = self.client.charger(self.code)
            online = bool(data.get("online"))
            seen_offline = seen_offline or not online
            booted = seen_offline or time.monotonic() - self._reset_at >= self.t.boot
            if online and booted:
                states = ", ".join(f"{c.get('connector_id')}:{c.get('status')}"
                                   for c in data.get("connectors") or [])
                mine = next((c for c in data.get("connectors") or []
                             if c.get("connector_id") == self.connector), None)
                if mine is None:
                    raise StepFailed(f"the backend knows no connector {self.connector} on "
                                     f"{self.code} (connectors {states or 'none'}).")
                return f"{data.get('name')} online, connectors {states}"
            if time.monotonic() + self.poll_s > deadline:
                raise StepFailed(f"the backend has not seen charger {self.code} online within "
                                 f"{self.t.online:g} s: check the board's csms_url, network and "
                                 "authorization key (chargerctl logs --port ...).")
            time.sleep(self.poll_s)

    @property
    def virtual(self) -> bool:
        return self._board_name == "unix-sim"

    def _session(self) -> str:
        if self.sim_port:
            self._plugged_before = bool(self._sim_state(self.sim_port).get("plugged"))
        started = self.client.start(self.code, self.connector, self.email)
        self.token, self.session = started.token, started.session
        self.session = driver.confirm_payment(self.client, started.token, started.payment,
                                              stripe_secret_key=self.stripe_secret_key)
        cur = (self.session.get("pricing") or {}).get("currency")
        return (f"session {driver.shorten(self.token)}: {self.session.get('status')}, "
                f"pre-authorization {money(self.session.get('amount_authorized'), cur)}")

    def _wait(self, until: set[str], timeout: float) -> dict:
        try:
            self.session = driver.wait_for(self.client, self.token, until, timeout=timeout,
                                           interval=self.poll_s)
        except driver.SessionFailed as err:
            self.session = err.session or self.session
            raise
        return self.session

    def _sim_state(self, port: int | None = None) -> dict:
        from host_tools.bench_rig import sim_command
        from host_tools.sim_client import SimError

        try:
            state = sim_command(port or self.control_port, {"cmd": "state"})
        except (SimError, OSError, ValueError) as err:
            raise StepFailed(f"the simulated hardware on control port {self.control_port} "
                             f"does not answer: {err}") from None
        for c in state.get("connectors", []):
            if c.get("id") == self.connector:
                return c
        raise StepFailed(f"the simulated hardware has no connector {self.connector}.")

    def _charging(self) -> str:
        try:
            self._wait({"charging"}, self.t.charging)
        except driver.SessionFailed as err:
            if self.session.get("status") in ("authorized", "starting"):
                raise StepFailed(f"{err} Connector {self.connector} is "
                                 f"{self.session.get('connector_status')}: is an EV (or EV "
                                 "simulator) plugged in and asking for power?") from None
            raise
        if self.control_port:
            first = self._sim_state()
            if not first.get("relay_closed"):
                raise StepFailed("the session is charging but the relay is open "
                                 f"(simulated hardware: {first}).")
            deadline = time.monotonic() + 10.0
            while True:
                time.sleep(0.5)
                now = self._sim_state()
                if now.get("energy_wh", 0) > first.get("energy_wh", 0):
                    return (f"relay closed, meter {first['energy_wh']:.1f} -> "
                            f"{now['energy_wh']:.1f} Wh at {now.get('power_w')} W")
                if time.monotonic() > deadline:
                    raise StepFailed("the relay is closed but the meter's energy does not rise "
                                     f"(simulated hardware: {now}); is the EV plugged and drawing?")
        start_kwh = driver.energy_kwh(self.session) or 0.0
        deadline = time.monotonic() + self.t.energy
        while True:
            time.sleep(self.poll_s)
            self.session, _ = self.client.session(self.token)
            kwh = driver.energy_kwh(self.session) or 0.0
            if kwh > start_kwh:
                return f"charging, energy {start_kwh:.3f} -> {kwh:.3f} kWh (from the backend)"
            if self.session.get("status") != "charging":
                raise StepFailed(f"the session left charging: {driver.describe_end(self.session)}")
            if time.monotonic() > deadline:
                raise StepFailed(f"the energy stayed at {kwh:.3f} kWh for {self.t.energy:g} s: "
                                 "is the EV drawing, and does the meter answer?")

    def _stopped(self) -> str:
        self.session = self.client.stop(self.token)
        self._wait({"stopping", "settling", "completed"}, self.t.settle)
        if self.control_port:
            deadline = time.monotonic() + self.t.settle
            while self._sim_state().get("relay_closed"):
                if time.monotonic() > deadline:
                    raise StepFailed("the stop was accepted but the relay is still closed.")
                time.sleep(0.2)
            return f"stop accepted ({self.session.get('status')}), relay open"
        return f"stop accepted ({self.session.get('status')})"

    def _settled(self) -> str:
        s = self._wait({"completed"}, self.t.settle)
        cur = (s.get("pricing") or {}).get("currency")
        captured, authorized = s.get("amount_captured"), s.get("amount_authorized")
        if captured is None or authorized is None or captured > authorized:
            raise StepFailed(f"captured {money(captured, cur)} vs authorized "
                             f"{money(authorized, cur)}: the capture must not exceed the hold.")
        return (f"completed: {s.get('energy_kwh')} kWh, cost {money(s.get('cost_amount'), cur)}, "
                f"captured {money(captured, cur)} of {money(authorized, cur)}")

    # --- afterwards ------------------------------------------------------------------------------
    def _status(self) -> str | None:
        try:
            data = self.client.charger(self.code)
        except DriverError:
            return None
        for c in data.get("connectors") or []:
            if c.get("connector_id") == self.connector:
                return c.get("status")
        return None

    def _leave_connector(self, timeout: float = 15.0) -> str:
        """Leave the connector as it was found: a session ends in Finishing while the EV stays
        plugged, and the next driver's start is refused until it is unplugged."""
        from host_tools.sim_client import SimClient, SimError

        if self.sim_port and self._plugged_before:
            try:
                with SimClient(self.sim_port) as sim:
                    sim.plug(self.connector, False)
                    time.sleep(1.0)  # the firmware polls its plug sense every 250 ms
                    sim.plug(self.connector, True)
            except SimError as err:
                return (f"connector {self.connector}: could not unplug the simulated EV ({err}); "
                        f"unplug it: chargerctl sim plug --control-port {self.sim_port} "
                        f"--connector {self.connector} --unplugged")
            deadline = time.monotonic() + timeout
            status = self._status()
            while status != "Preparing" and time.monotonic() < deadline:  # plugged, idle
                time.sleep(self.poll_s)
                status = self._status()
            return (f"connector {self.connector} left {status or 'unknown'}: the simulated EV "
                    "was unplugged and plugged in again, as it was found")
        status = self._status()
        if status == "Finishing":
            return (f"connector {self.connector} is Finishing: unplug the EV (or test box) so "
                    "that the next driver can start")
        return f"connector {self.connector} left {status or 'in an unknown state'}"
