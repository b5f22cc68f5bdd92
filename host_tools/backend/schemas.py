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
