# evse.ocpp.download.link(): a download boot waits for the Wi-Fi station before its one try
# (boot.py's _wifi() only starts the connection). The station is a stand-in for MicroPython's
# network.WLAN (active(), isconnected()), put in sys.modules: the unix port has no radio.
import sys

import asyncio
from evse.ocpp import download


class Station:
    def __init__(self, up_after, active=True):
        self.asked = 0
        self.up_after = up_after  # isconnected() calls before it says True (None: never)
        self.on = active

    def active(self, *a):
        return self.on

    def isconnected(self):
        self.asked += 1
        return self.up_after is not None and self.asked > self.up_after


class Network:
    STA_IF = 0

    def __init__(self, sta):
        self.sta = sta

    def WLAN(self, _kind):
        return self.sta


def run(sta, ms):
    sys.modules["network"] = Network(sta)
    try:
        return asyncio.run(download.link(ms))
    finally:
        del sys.modules["network"]


def test_no_network_module_no_wait():
    assert asyncio.run(download.link(10)) is True


def test_waits_until_the_station_is_connected():
    sta = Station(up_after=3)
    assert run(sta, 5000) is True
    assert sta.asked == 4  # asked again until it was up, not given up at the first "no"


def test_gives_up_after_the_timeout():
    sta = Station(up_after=None)
    assert run(sta, 500) is False
    assert sta.asked >= 2


def test_an_inactive_station_is_not_waited_for():
    sta = Station(up_after=None, active=False)
    assert run(sta, 5000) is True and sta.asked == 0
