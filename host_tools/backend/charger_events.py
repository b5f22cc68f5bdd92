"""What a charger's OCPP messages do to public sessions: Authorize, StartTransaction,
MeterValues, StopTransaction and StatusNotification (the `ocpp_server` handlers call these).

A part of `sessions.Sessions` (it inherits this class), kept apart because it is the other
side of the lifecycle: the driver's actions move a session from the API, these from the charger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import oplog
from .lifecycle import AUTHORIZED, CHARGING, SETTLING, STARTING, STOPPING, cost_for

if TYPE_CHECKING:
    from .clock import Clock
    from .store import Store


# One stored reading, matched column by column (IS: NULL equals NULL).
_SAME_VALUE = ("SELECT 1 FROM meter_values WHERE identity = ? AND connector_id = ? AND "
               "transaction_id IS ? AND timestamp = ? AND measurand = ? AND phase IS ? AND "
               "context IS ? AND value = ? AND unit IS ?")


class ChargerEvents:
    # provided by Sessions
    store: Store
    clock: Clock

    def _transition(self, s: dict, to: str, **fields) -> dict: ...
    async def _capture(self, s: dict) -> dict: ...

    def authorize(self, identity: str, id_tag: str) -> str:
        s = self.store.one("SELECT * FROM sessions WHERE id_tag = ?", id_tag)
        if s and s["identity"] == identity and s["status"] in (AUTHORIZED, STARTING, CHARGING):
            return "Accepted"
        return "Accepted" if self.store.vouched(identity, id_tag, self.clock()) else "Invalid"

    def start_transaction(self, identity: str, connector_id: int, id_tag: str, meter_start: int,
                          timestamp: str) -> tuple[int, str]:
        """Returns (transactionId, idTagInfo.status). The charger gets an id in every case."""
        s = self.store.one("SELECT * FROM sessions WHERE id_tag = ?", id_tag)
        mine = s is not None and s["identity"] == identity and s["connector_id"] == connector_id
        if mine and s["transaction_id"] is not None:
            return s["transaction_id"], "Accepted"  # a repeat after a lost StartTransaction.conf
        # The charger delivers at least once (a power loss between our answer and its journal's
        # pop sends the message again); the timestamp identifies a message, so a repeat of a
        # start that belongs to no session gets the transaction it opened the first time.
        repeat = self.store.one(
            "SELECT id FROM transactions WHERE identity = ? AND connector_id = ? AND id_tag = ? "
            "AND meter_start = ? AND started_at = ?",
            identity, connector_id, id_tag, meter_start, timestamp)
        if repeat is not None:
            vouched = self.store.vouched(identity, id_tag, self.clock())
            return repeat["id"], "Accepted" if vouched else "Invalid"
        tx = self.store.insert(
            "transactions", identity=identity, connector_id=connector_id, id_tag=id_tag,
            session_id=s["id"] if mine else None, meter_start=meter_start,
            last_meter_wh=meter_start, started_at=timestamp, received_at=self.clock())
        if mine and s["status"] in (AUTHORIZED, STARTING):
            self._transition(s, CHARGING, transaction_id=tx, charging_started_at=self.clock(),
                             energy_wh=0, cost_amount=cost_for(0, s["price_per_kwh"], s["start_fee"]),
                             start_deadline=None)
            return tx, "Accepted"
        if not mine and self.store.vouched(identity, id_tag, self.clock()):
            return tx, "Accepted"  # an operator's start (actions/start) or reservation
        return tx, "Invalid"

    def meter_values(self, identity: str, connector_id: int, transaction_id: int | None,
                     meter_value: list) -> None:
        tx = None
        if transaction_id is not None and transaction_id > 0:
            tx = self.store.one("SELECT * FROM transactions WHERE id = ? AND identity = ?",
                                transaction_id, identity)
        register = self._store_samples(identity, connector_id, tx["id"] if tx else None, meter_value)
        if tx is None or register is None or tx["meter_stop"] is not None:
            return
        self.store.update("transactions", tx["id"], last_meter_wh=register)
        s = self.store.session(tx["session_id"]) if tx["session_id"] else None
        if s and s["status"] in (CHARGING, STOPPING):
            wh = register - tx["meter_start"]
            self.store.update("sessions", s["id"], energy_wh=max(0, wh), updated_at=self.clock(),
                              cost_amount=cost_for(wh, s["price_per_kwh"], s["start_fee"]))

    def _store_samples(self, identity: str, connector_id: int, tx_id: int | None,
                       meter_value: list) -> int | None:
        """Stores every sampled value once; returns the last energy register reading in Wh.

        A value already stored (same connector, transaction, timestamp, measurand, phase,
        context, value and unit) is the same reading delivered again: the charger's journal
        resends a MeterValues whose answer it got just before a power loss (at least once)."""
        register = None
        for mv in meter_value or []:
            for sv in mv.get("sampled_value", []):
                measurand = sv.get("measurand", "Energy.Active.Import.Register")
                row = {"identity": identity, "connector_id": connector_id,
                       "transaction_id": tx_id, "timestamp": mv.get("timestamp", ""),
                       "measurand": measurand, "phase": sv.get("phase"),
                       "context": sv.get("context"), "value": str(sv.get("value")),
                       "unit": sv.get("unit")}
                if not self.store.one(_SAME_VALUE, *row.values()):
                    self.store.insert("meter_values", **row)
                if measurand == "Energy.Active.Import.Register" and sv.get("phase") is None:
                    try:
                        v = float(sv.get("value"))
                    except (TypeError, ValueError):
                        continue
                    register = round(v * 1000 if sv.get("unit") == "kWh" else v)
        return register

    async def stop_transaction(self, identity: str, transaction_id: int, meter_stop: int,
                               timestamp: str, reason: str | None, id_tag: str | None,
                               transaction_data: list | None) -> str | None:
        """Returns the idTagInfo status for the idTag, or None when none was given."""
        tx = None
        if transaction_id > 0:
            tx = self.store.one("SELECT * FROM transactions WHERE id = ? AND identity = ?",
                                transaction_id, identity)
        if tx is None and id_tag:  # transactionId -1: the charger never got StartTransaction.conf
            s = self.store.one("SELECT * FROM sessions WHERE id_tag = ?", id_tag)
            if s and s["transaction_id"]:
                tx = self.store.one("SELECT * FROM transactions WHERE id = ?", s["transaction_id"])
        if tx is None:
            oplog.log("ocpp.unknown_transaction", identity=identity, transaction=transaction_id)
            self._store_samples(identity, 0, None, transaction_data or [])
            return "Accepted" if id_tag else None
        if tx["meter_stop"] is not None:
            return "Accepted" if id_tag else None  # a repeat: settled already
        self._store_samples(identity, tx["connector_id"], tx["id"], transaction_data or [])
        self.store.update("transactions", tx["id"], meter_stop=meter_stop, stopped_at=timestamp,
                          stop_reason=reason)
        s = self.store.session(tx["session_id"]) if tx["session_id"] else None
        if s and s["status"] in (CHARGING, STOPPING):
            if s["status"] == CHARGING:  # charger-side stop or EV unplugged: like a driver stop
                s = self._transition(s, STOPPING, stop_requested_at=self.clock())
            wh = max(0, meter_stop - tx["meter_start"])
            s = self._transition(s, SETTLING, energy_wh=wh,
                                 cost_amount=cost_for(wh, s["price_per_kwh"], s["start_fee"]))
            await self._capture(s)
        return "Accepted" if id_tag else None

    def status_notification(self, identity: str, connector_id: int, status: str) -> int | None:
        """Returns a transactionId the backend should stop because the EV has gone."""
        if connector_id == 0:
            return None
        s = self.store.one("SELECT * FROM sessions WHERE identity = ? AND connector_id = ? AND "
                           "status = ?", identity, connector_id, CHARGING)
        if s and status in ("Finishing", "Available"):
            self._transition(s, STOPPING, stop_requested_at=self.clock())
            # Available with the transaction still open: the charger will not stop it by itself.
            return s["transaction_id"] if status == "Available" else None
        return None

    def offending_transaction(self, tx_id: int) -> bool:
        """True when a started transaction belongs to no live session (stop it)."""
        tx = self.store.one("SELECT * FROM transactions WHERE id = ?", tx_id)
        if tx is None:
            return True
        if tx["session_id"] is None:  # no driver pays for it: only an operator may have started it
            return not self.store.vouched(tx["identity"], tx["id_tag"], self.clock())
        s = self.store.session(tx["session_id"])
        return s is None or s["status"] not in (CHARGING, STOPPING)
