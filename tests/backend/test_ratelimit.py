"""Rate limits per client IP, with the clock under the test's control."""

from __future__ import annotations

from host_tools.backend.ratelimit import RateLimiter

from .conftest import API, FakeClock


def test_fixed_window_opens_with_first_hit():
    clock = FakeClock(1000.0)
    rl = RateLimiter(clock)
    assert [rl.hit("k", 3).remaining for _ in range(3)] == [2, 1, 0]
    clock.advance(20)
    v = rl.hit("k", 3)
    assert not v.allowed and v.retry_after == 40
    assert v.headers() == {"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "0", "Retry-After": "40"}
    assert rl.hit("other", 3).allowed
    clock.advance(40)
    assert rl.hit("k", 3).allowed


async def test_start_is_limited_to_3_per_minute(server, http):
    body = {"code": "NOPE", "connector_id": 1}
    remaining = []
    for _ in range(3):
        r = await http.post(f"{API}/sessions", json=body)
        assert r.status_code == 404
        remaining.append(r.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    server.clock.advance(15)
    r = await http.post(f"{API}/sessions", json=body)
    assert r.status_code == 429
    assert r.json() == {"message": "Too Many Attempts."}
    assert r.headers["Retry-After"] == "45"
    assert r.headers["X-RateLimit-Limit"] == "3" and r.headers["X-RateLimit-Remaining"] == "0"
    server.clock.advance(45)
    assert (await http.post(f"{API}/sessions", json=body)).status_code == 404


async def test_lookup_and_get_are_limited_to_30_per_minute(server, http):
    for path in (f"{API}/chargers/ABC123", f"{API}/sessions/unknown"):
        codes = [(await http.get(path)).status_code for _ in range(31)]
        assert codes[:30] == [codes[0]] * 30 and codes[0] in (200, 404)
        assert codes[30] == 429


async def test_confirm_stop_cancel_are_limited_to_10_per_minute_each(server, http):
    for action in ("confirm", "stop", "cancel"):
        codes = [(await http.post(f"{API}/sessions/x/{action}")).status_code for _ in range(11)]
        assert codes == [404] * 10 + [429], action
    server.clock.advance(60)
    assert (await http.post(f"{API}/sessions/x/stop")).status_code == 404
