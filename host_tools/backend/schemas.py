"""Response shapes for the OpenAPI document (the handlers build plain dicts of the same shape)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Message(BaseModel):
    message: str


class ValidationErrors(BaseModel):
    message: str = "The given data was invalid."
    errors: dict[str, list[str]]


class Pricing(BaseModel):
    currency: str
    price_per_kwh: int
    start_fee: int


class Connector(BaseModel):
    connector_id: int
    status: str
    standard: str
    format: str
    power_type: str


class ChargerData(BaseModel):
    public_code: str
    name: str
    online: bool
    connectors: list[Connector]
    pricing: Pricing
    preauth_amount: int


class ChargerResponse(BaseModel):
    data: ChargerData


class SessionCharger(BaseModel):
    public_code: str | None
    name: str | None
    online: bool


class SessionData(BaseModel):
    status: str = Field(description="created, authorized, starting, charging, stopping, settling, "
                                    "completed, cancelled or failed")
    failure_reason: str | None = Field(description="charger_rejected, start_timeout, "
                                                   "charger_offline or payment_failed")
    connector_id: int
    connector_status: str | None
    charger: SessionCharger
    pricing: Pricing
    amount_authorized: int | None
    energy_kwh: str | None = Field(description="kWh with three decimals, e.g. \"7.400\"")
    cost_amount: int | None
    amount_captured: int | None
    tax_amount: int | None
    driver_email: str | None
    created_at: str
    authorized_at: str | None
    charging_started_at: str | None
    completed_at: str | None
    captured_at: str | None
    meter_reading_at: str | None = Field(
        None, description="Local backend only: the charger's time of the latest energy reading "
                          "(null until the first MeterValues)")
    power_w: int | None = Field(
        None, description="Local backend only, while charging: the latest Power.Active.Import, "
                          "else the energy between the last two readings over their time apart")
    current_offered_a: float | None = Field(
        None, ge=0, description="Local backend only, while charging: the latest Current.Offered "
                                "of the charger (A per phase it offers the EV: its effective "
                                "limit), null until the charger sends one (MeterValuesSampledData)")
    charge_limit_a: float | None = Field(
        None, ge=0, description="Local backend only: the charge limit (actions/charge-limit) "
                                "the charger accepted for this connector, in A per phase: the "
                                "lower of the charge point's and the connector's, each at its "
                                "highest stack level; null when none was set")


class Payment(BaseModel):
    client_secret: str
    publishable_key: str
    stripe_account_id: str | None


class StartResponse(BaseModel):
    session_token: str
    data: SessionData
    payment: Payment


class SessionResponse(BaseModel):
    data: SessionData
    payment: Payment | None


class SessionOnly(BaseModel):
    data: SessionData


class LocalPaymentIntent(BaseModel):
    id: str
    object: str = "payment_intent"
    status: str
    amount: int
    last_payment_error: dict | None


START_REQUEST = {
    "type": "object",
    "required": ["code", "connector_id"],
    "properties": {
        "code": {"type": "string", "maxLength": 10, "description": "Public code, case-insensitive"},
        "connector_id": {"type": "integer", "minimum": 1, "maximum": 100},
        "email": {"type": "string", "format": "email", "maxLength": 255},
    },
}

LOCAL_CONFIRM_REQUEST = {
    "type": "object",
    "required": ["client_secret"],
    "properties": {
        "client_secret": {"type": "string"},
        "payment_method": {"type": "string", "default": "pm_card_visa",
                           "description": "pm_card_chargeDeclined makes the card decline"},
    },
}


# --- the operator's charger actions (operator_actions.py) -------------------------------------

class ActionStatus(BaseModel):
    status: str = Field(description="The charger's answer, e.g. Accepted or Rejected")


class ReserveStatus(ActionStatus):
    reservation_id: int = Field(description="The reservationId sent (assigned when not given)")
    expires_at: str = Field(description="When the reservation ends (the expiryDate sent)")


class OcppError(BaseModel):
    code: str = Field(description="The CALLERROR code, e.g. NotSupported")
    description: str
    from_charger: bool = Field(description="false: the charger's answer broke the OCPP 1.6 "
                                           "schema, and code names the check that failed")


class ChargerErrorMessage(BaseModel):
    message: str
    ocpp_error: OcppError


_CONNECTOR = {"type": "integer", "minimum": 1, "maximum": 100,
              "description": "Connector number; at most the charger's connector count"}
_ID_TOKEN = {"type": "string", "minLength": 1, "maxLength": 20,
             "description": "The idTag (OCPP CiString20: printable ASCII)"}

ACTION_START = {
    "type": "object",
    "required": ["id_token"],
    "properties": {"connector_id": {**_CONNECTOR, "description": "Optional: the charger picks "
                                                                 "one when absent"},
                   "id_token": _ID_TOKEN},
}

ACTION_STOP = {
    "type": "object",
    "required": ["transaction_id"],
    "properties": {"transaction_id": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}},
}

ACTION_CHARGE_LIMIT = {
    "type": "object",
    "required": ["connector_id", "limit"],
    "properties": {
        "connector_id": {**_CONNECTOR, "minimum": 0,
                         "description": "0 = the charge point as a whole, N = connector N"},
        "limit": {"type": "number", "minimum": 0, "maximum": 1000, "multipleOf": 0.1,
                  "description": "Amperes per phase, 0.1 A steps; 0 suspends charging"},
        "stack_level": {"type": "integer", "minimum": 0, "maximum": 100, "default": 1,
                        "description": "Higher stack levels take priority"},
    },
}

ACTION_RESERVE = {
    "type": "object",
    "required": ["connector_id", "id_token"],
    "properties": {
        "connector_id": {**_CONNECTOR, "minimum": 0,
                         "description": "0 = any connector (if the charger supports it)"},
        "id_token": _ID_TOKEN,
        "expires_at": {"type": "string", "format": "date-time",
                       "description": "When the reservation ends (at most 24 h ahead); give "
                                      "this or minutes"},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 1440,
                    "description": "How long the reservation lasts; give this or expires_at"},
        "reservation_id": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                           "description": "Optional: assigned by the backend when absent; a "
                                          "known id is replaced"},
    },
}

ACTION_CANCEL_RESERVATION = {
    "type": "object",
    "required": ["reservation_id"],
    "properties": {"reservation_id": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}},
}


class LocalListStatus(ActionStatus):
    list_version: int = Field(description="The listVersion sent (the charger's next one when not "
                                          "given)")


class LocalListVersion(BaseModel):
    list_version: int = Field(description="The charger's listVersion: 0 no list, -1 it has no "
                                          "local list (or it is disabled)")


ACTION_LOCAL_LIST = {
    "type": "object",
    "required": ["update_type"],
    "properties": {
        "list_version": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
                         "description": "Optional: the charger's version plus one when absent"},
        "update_type": {"type": "string", "enum": ["Full", "Differential"],
                        "description": "Full replaces the charger's list; Differential changes "
                                       "the entries named"},
        "entries": {"type": "array", "maxItems": 500, "items": {
            "type": "object",
            "required": ["id_tag"],
            "additionalProperties": False,
            "properties": {
                "id_tag": _ID_TOKEN,
                "status": {"type": "string",
                           "enum": ["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"],
                           "description": "Required in a Full update; in a Differential one an "
                                          "entry without it deletes the idTag"},
                "expiry_date": {"type": "string", "format": "date-time"},
                "parent_id_tag": _ID_TOKEN}}},
    },
}

ACTION_LOCAL_LIST_VERSION = {"type": "object", "properties": {}}

_RETRIES = {
    "retries": {"type": "integer", "minimum": 0, "maximum": 10,
                "description": "Optional: attempts after the first (the charger's default when "
                               "absent)"},
    "retry_interval": {"type": "integer", "minimum": 1, "maximum": 86400,
                       "description": "Optional: seconds between attempts"},
}

ACTION_UPDATE_FIRMWARE = {
    "type": "object",
    "properties": {
        "bundle": {"type": "string", "description": "A bundle's name as `POST /api/v3/firmware` "
                                                    "answered it; give this or location"},
        "location": {"type": "string", "format": "uri", "maxLength": 512,
                     "description": "An http:// or https:// URL of a bundle; give this or "
                                    "bundle"},
        "retrieve_date": {"type": "string", "format": "date-time",
                          "description": "Optional: not before then (default now; at most 30 "
                                         "days ahead)"},
        **_RETRIES,
    },
}

ACTION_GET_DIAGNOSTICS = {
    "type": "object",
    "properties": {
        "start_time": {"type": "string", "format": "date-time",
                       "description": "Optional: the oldest log entries wanted"},
        "stop_time": {"type": "string", "format": "date-time",
                      "description": "Optional: the newest log entries wanted (after "
                                     "start_time)"},
        **_RETRIES,
    },
}


class UpdateFirmwareStatus(ActionStatus):
    location: str = Field(description="The URL the charger downloads from")
    retrieve_date: str = Field(description="The retrieveDate sent")
    version: str | None = Field(description="The bundle's version (null for a location)")
    after: int = Field(description="Follow GET /api/v3/chargers/{identity}/firmware?after= "
                                   "from this sequence number")


class GetDiagnosticsStatus(ActionStatus):
    file_name: str | None = Field(description="The file the charger will upload (null: none)")
    location: str = Field(description="The folder URL the charger uploads to")
    after: int = Field(description="Follow GET /api/v3/chargers/{identity}/diagnostics?after= "
                                   "from this sequence number")
