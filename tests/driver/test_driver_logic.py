"""The driver's pure parts: derived power, cost so far, receipt, token handling, payment routing.
No API involved (the API paths are tested against the real backend in test_session_cli.py)."""

from __future__ import annotations

import pytest

from host_tools import driver
from host_tools.driver import (
    PaymentActionNeeded,
    Progress,
    SessionFile,
    cost_so_far,
    money,
    payment_intent_id,
    receipt,
    shorten,
)


def test_power_without_backend_figures_is_between_two_observed_readings():
    """The real service gives only energy_kwh: the first change seen is only a baseline (the
    energy before it may be a minute old), power needs two changes, i.e. two meter readings."""
    p = Progress()
    p.update({"status": "charging", "energy_kwh": "1.000"}, now=0.0)  # watch starts
    assert p.power_kw is None and p.meter_note == "measuring (needs a second meter reading)"
    p.update({"status": "charging", "energy_kwh": "1.123"}, now=2.0)  # a 60 s reading arrives
    assert p.power_kw is None  # not 1.123 - 1.000 over 2 s = 221 kW (the old bug)
    p.update({"status": "charging", "energy_kwh": "1.123"}, now=30.0)
    assert p.power_kw is None
    p.update({"status": "charging", "energy_kwh": "1.246"}, now=62.0)  # the next one
    assert p.power_kw == pytest.approx(7.38)
    p.update({"status": "completed", "energy_kwh": "1.246"}, now=64.0)
    assert p.power_kw == 0.0


def test_power_from_the_backend_is_used_as_is_and_no_reading_yet_is_said():
    p = Progress()
    p.update({"status": "charging", "energy_kwh": "0.000", "meter_reading_at": None,
              "power_w": None}, now=0.0)
    assert p.power_kw is None
    assert p.meter_note == "waiting for the first meter reading (every 60 s by default)"
    p.update({"status": "charging", "energy_kwh": "0.123", "power_w": 7391,
              "meter_reading_at": "2026-01-10T01:16:00.000000Z"}, now=2.0)
    assert p.power_kw == pytest.approx(7.391) and p.meter_note is None
    fresh = Progress().update({"status": "charging", "energy_kwh": "0.000"}, now=0.0)
    assert fresh.meter_note.startswith("waiting for the first meter reading")


def test_watch_shows_the_offered_current_and_the_limit_when_the_backend_gives_them():
    """Issue 13: "session watch shows the offered current" (the local backend's
    current_offered_a, the charger's Current.Offered) with the charge limit behind it; the real
    service gives neither and the view has no such row."""
    from host_tools.commands.session_view import offered_text, plain_line

    base = {"status": "charging", "energy_kwh": "0.123", "power_w": 1380,
            "meter_reading_at": "2026-01-10T01:16:00.000000Z"}
    p = Progress().update(dict(base, current_offered_a=6.0, charge_limit_a=6.0), now=0.0)
    assert p.as_json()["current_offered_a"] == 6.0 and p.as_json()["charge_limit_a"] == 6.0
    assert offered_text(p.session) == "6.0 A (limit 6 A)"
    assert "offered 6.0 A (limit 6 A)" in plain_line(p)
    p.update(dict(base, current_offered_a=0.0, charge_limit_a=0.0), now=2.0)
    assert offered_text(p.session) == "0.0 A (limit 0 A): suspended, below the 6 A an EV can be offered"
    p.update(dict(base, current_offered_a=None, charge_limit_a=None), now=4.0)
    assert offered_text(p.session) == "-"
    real = Progress().update({"status": "charging", "energy_kwh": "0.123"}, now=0.0)
    assert offered_text(real.session) is None and "offered" not in plain_line(real)
    assert real.as_json()["current_offered_a"] is None


def test_cost_so_far_is_energy_times_price_plus_fee_until_the_backend_knows():
    pricing = {"currency": "EUR", "price_per_kwh": 35, "start_fee": 50}
    assert cost_so_far({"status": "charging", "energy_kwh": "2.000", "pricing": pricing}) == 120
    assert cost_so_far({"status": "authorized", "pricing": pricing}) == 0
    assert cost_so_far({"status": "completed", "cost_amount": 99, "pricing": pricing}) == 99


def test_receipt_released_is_the_rest_of_the_hold():
    rec = receipt({"status": "completed", "amount_authorized": 5000, "amount_captured": 120,
                   "cost_amount": 120, "energy_kwh": "2.000", "pricing": {"currency": "EUR"}})
    assert rec["amount_released"] == 4880
    assert money(4880, "EUR") == "48.80 EUR"
    assert receipt({"status": "charging", "amount_authorized": 5000})["amount_released"] is None


def test_shorten_never_reveals_a_usable_token():
    token = "abcdefghijklmnopqrstuvwxyz0123456789"
    short = shorten(token)
    assert short == "abcd…6789"
    assert len(short) < len(token) // 3


def test_payment_intent_id_from_client_secret():
    assert payment_intent_id("pi_local123_secret_abc_def") == "pi_local123"
    with pytest.raises(driver.DriverError):
        payment_intent_id("nonsense")


def test_real_service_payment_without_test_keys_says_what_to_do():
    """With the real service the Stripe client secret belongs in a browser."""
    payment = {"client_secret": "pi_1_secret_2", "publishable_key": "pk_live_x",
               "stripe_account_id": "acct_1"}
    with pytest.raises(PaymentActionNeeded) as err:
        driver.confirm_payment(None, "tok", payment)  # type: ignore[arg-type] - no call is made
    assert "Scan to Pay" in str(err.value) and err.value.exit_code == 27
    with pytest.raises(driver.DriverError, match="test keys"):
        driver.confirm_payment(None, "tok", payment, stripe_secret_key="sk_live_nope")  # type: ignore[arg-type]


def test_session_file_is_private_even_with_a_lax_umask(tmp_path):
    import os
    import stat

    path = tmp_path / "deep" / "session.json"
    old = os.umask(0)
    try:
        f = SessionFile(path)
        f.write({"session_token": "t" * 32, "api": "http://x"})
        f.update(code="ABC")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert f.load()["code"] == "ABC"
    f.clear()
    with pytest.raises(driver.NoSession):
        f.load()
