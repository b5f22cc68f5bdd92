"""Amounts: energy string, cost rounding (half-up on cents), VAT contained in the capture."""

from __future__ import annotations

from decimal import Decimal

import pytest

from host_tools.backend.sessions import cost_for, energy_kwh, tax_in


@pytest.mark.parametrize("wh, text", [(0, "0.000"), (1, "0.001"), (999, "0.999"), (7400, "7.400"),
                                      (123_456, "123.456"), (-5, "0.000"), (None, None)])
def test_energy_kwh_is_a_three_decimal_string(wh, text):
    assert energy_kwh(wh) == text


@pytest.mark.parametrize("wh, price, fee, cents", [
    (0, 35, 50, 50),
    (1000, 35, 50, 85),
    (10, 35, 0, 0),     # 0.35 c -> 0
    (100, 35, 0, 4),    # 3.5 c -> 4 (half up)
    (1300, 35, 0, 46),  # 45.5 c -> 46
    (1290, 35, 0, 45),  # 45.15 c -> 45
    (-100, 35, 50, 50),  # a meter that went backwards charges nothing for energy
])
def test_cost_rounds_half_up_on_cents(wh, price, fee, cents):
    assert cost_for(wh, price, fee) == cents


@pytest.mark.parametrize("amount, rate, tax", [
    (121, "0.21", 21), (309, "0.21", 54), (5000, "0.21", 868), (0, "0.21", 0),
    (100, "0.09", 8), (100, "0", 0), (107, "0.07", 7),
])
def test_tax_is_the_vat_contained_in_the_amount(amount, rate, tax):
    assert tax_in(amount, Decimal(rate)) == tax
