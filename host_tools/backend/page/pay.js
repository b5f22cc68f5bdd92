// The driver's "Scan to Pay" page: look up the charger by the code in the URL, start a session
// on a connector, pay (the local test payment, or Stripe's Payment Element when the backend uses
// Stripe), watch it charge, stop, read the receipt. Only the public-charging API is used, at its
// documented pace, and a 429 waits for its Retry-After. No framework, no build step.
"use strict";

(() => {
  const API = "/api/v3/public-charging";
  const LOCAL_CONFIRM = "/api/v3/_local/payments/";
  // Documented limits per IP and minute: session GET 30, charger lookup 30. Stay well below.
  const SESSION_POLL_MS = 2500;
  const CHARGER_POLL_MS = 5000;
  const NETWORK = "We cannot reach the charging service. Check your phone's internet connection; "
    + "this page keeps trying.";
  const TERMINAL = ["completed", "cancelled", "failed"];

  const $ = (id) => document.getElementById(id);
  const parts = location.pathname.split("/").filter(Boolean);
  const code = decodeURIComponent(parts[parts.length - 1] || "").toUpperCase();
  const payments = (document.querySelector('meta[name="payments"]') || {}).content || "local";
  const locale = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  const storeKey = "scan-to-pay:" + code;

  let charger = null;
  let token = null;
  let session = null;
  let payment = null;
  let pollTimer = null;
  let blockedUntil = 0; // a 429 on start: no start until then
  let blockTimer = null;
  let connectorsKey = "";
  let stripeParts = null;
  let view = "";

  // ---- plain words -----------------------------------------------------------------------
  const CONNECTOR_WORDS = {
    Available: "Free: plug in your car and start",
    Preparing: "Car plugged in: ready to start",
    Charging: "In use",
    SuspendedEV: "In use (the car has paused)",
    SuspendedEVSE: "In use (the charger has paused)",
    Finishing: "The last session has ended: unplug the car to start again",
    Reserved: "Reserved for another driver",
    Unavailable: "Out of service",
    Faulted: "Out of order",
  };
  const STARTABLE = ["Available", "Preparing"];
  const KIND_WORDS = {
    IEC_62196_T2: "Type 2", IEC_62196_T2_COMBO: "CCS", CHADEMO: "CHAdeMO",
    DOMESTIC_F: "Schuko", IEC_62196_T1: "Type 1",
    SOCKET: "socket", CABLE: "cable",
    AC_1_PHASE: "AC single-phase", AC_3_PHASE: "AC three-phase", DC: "DC",
  };
  const BUSY_WORDS = {
    Available: "another driver has just started a session on it.",
    Preparing: "another driver has just started a session on it.",
    Charging: "another car is charging on it.",
    SuspendedEV: "another car's session is still open on it.",
    SuspendedEVSE: "another car's session is still open on it.",
    Finishing: "the last session has ended but the car is still plugged in.",
    Reserved: "it is reserved for another driver.",
    Unavailable: "it is out of service.",
    Faulted: "it has a fault.",
  };
  const RELEASED = " Your card has not been charged and the hold on it is released.";
  const FAILURE_WORDS = {
    charger_rejected: "The charger refused to start." + RELEASED,
    start_timeout: "The charger did not start in time (is the car plugged in?)." + RELEASED,
    charger_offline: "The charger went offline before charging started." + RELEASED,
    payment_failed: "The payment did not go through. Your card has not been charged.",
  };

  function sessionWords(s) {
    const cs = s.connector_status;
    switch (s.status) {
      case "created": return "Waiting for your payment.";
      case "authorized": return "Payment approved. Asking the charger to start…";
      case "starting":
        return cs === "Available" ? "Payment approved. Plug in your car to start charging."
          : "Payment approved. The charger is starting…";
      case "charging":
        if (cs === "SuspendedEV") return "Paused by your car (battery full or its own limit).";
        if (cs === "SuspendedEVSE") return "Paused by the charger (it is holding back power).";
        return "Charging.";
      case "stopping": return "Stopping…";
      case "settling": return "Stopped. Working out the cost…";
      case "completed": return "Done. Thank you for charging!";
      case "cancelled": return "Cancelled." + RELEASED;
      case "failed": return FAILURE_WORDS[s.failure_reason] || "The session could not start." + RELEASED;
      default: return "Status: " + s.status;
    }
  }

  function tooMany(seconds) {
    return `Too many attempts from this network. Please wait ${seconds} seconds, then try again.`;
  }

  function generic(status) {
    return `Something went wrong on our side (error ${status}). Please try again in a minute.`;
  }

  // ---- formatting ------------------------------------------------------------------------
  function currencyFormat(currency) {
    try {
      return new Intl.NumberFormat(locale, { style: "currency", currency });
    } catch (e) {
      return new Intl.NumberFormat("en", { style: "currency", currency: "EUR" });
    }
  }

  // Amounts are integers in the currency's minor unit (cents).
  function money(minor, currency) {
    if (minor === null || minor === undefined) return "—";
    const fmt = currencyFormat(currency);
    return fmt.format(minor / 10 ** fmt.resolvedOptions().maximumFractionDigits);
  }

  function kwh(text) {
    if (text === null || text === undefined) return "—";
    const n = new Intl.NumberFormat(locale, { minimumFractionDigits: 3, maximumFractionDigits: 3 });
    return n.format(Number(text)) + " kWh";
  }

  function kw(watts) {
    if (watts === null || watts === undefined) return "—";
    const n = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    return n.format(watts / 1000) + " kW";
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (v) => String(v).padStart(2, "0");
    return h ? `${h} h ${pad(m)} min` : `${m} min ${pad(s % 60)} s`;
  }

  // The current the charger offers the car (its Current.Offered: the operator's limit, or the
  // outlet's rating), in A per phase; absent until the charger has reported one.
  function offeredCurrent(s) {
    return typeof s.current_offered_a === "number" ? s.current_offered_a : null;
  }

  // ---- the page's regions ----------------------------------------------------------------
  function setStatus(text, warn = false) {
    const el = $("status");
    el.classList.toggle("warn", warn);
    if (el.textContent !== text) el.textContent = text; // a live region: announce changes only
  }

  function showError(text) {
    const el = $("error");
    el.textContent = text;
    el.hidden = !text;
  }

  function show(name, focus) {
    for (const v of ["start", "pay", "session", "receipt"]) $(v + "-view").hidden = v !== name;
    if (name !== view && focus) {
      // keyboard and screen-reader users land on the new step's heading
      const heading = document.querySelector(`#${name}-view h2`);
      if (heading) heading.focus();
    }
    view = name;
  }

  function schedule(fn, ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(fn, ms);
  }

  // ---- the API ---------------------------------------------------------------------------
  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { status: 0, body: {}, retryAfter: 0 };
    }
    let data = {};
    try {
      data = await res.json();
    } catch (e) {
      data = {};
    }
    const wait = parseInt(res.headers.get("Retry-After") || "", 10);
    return { status: res.status, body: data || {}, retryAfter: wait > 0 ? wait : 60 };
  }

  // ---- the charger and its connectors ----------------------------------------------------
  async function pollCharger() {
    const r = await api("GET", `${API}/chargers/${encodeURIComponent(code)}`);
    if (view !== "start") return; // a session began meanwhile
    if (r.status === 200) {
      charger = r.body.data;
      renderCharger();
      schedule(pollCharger, CHARGER_POLL_MS);
    } else if (r.status === 429) {
      setStatus(`Too many requests from this network: live updates paused for ${r.retryAfter} seconds.`, true);
      schedule(pollCharger, r.retryAfter * 1000);
    } else if (r.status === 404) {
      $("charger-name").textContent = "Charger not found";
      setStatus("");
      showError(`We cannot find charger ${code}, or it does not take payments here. `
        + "Check the code on the charger's screen.");
    } else {
      showError(r.status === 0 ? NETWORK : generic(r.status));
      schedule(pollCharger, CHARGER_POLL_MS);
    }
  }

  function renderCharger() {
    const c = charger;
    $("charger-name").textContent = c.name;
    $("price-kwh").textContent = money(c.pricing.price_per_kwh, c.pricing.currency) + " per kWh";
    $("price-start").textContent = money(c.pricing.start_fee, c.pricing.currency);
    $("hold-note").textContent = `Starting places a hold of ${money(c.preauth_amount, c.pricing.currency)} `
      + "on your card. You pay only for the energy you use plus the start fee; the rest is released.";
    if (!c.online) {
      setStatus("This charger is offline right now, so it cannot start a session. "
        + "This page checks again every few seconds.", true);
    } else if (!c.connectors.some((k) => STARTABLE.includes(k.status))) {
      setStatus("No connector can start right now.");
    } else {
      setStatus("Choose a connector to start.");
    }
    const key = JSON.stringify([c.online, c.connectors.map((k) => [k.connector_id, k.status])]);
    if (key !== connectorsKey) { // rebuild only on a change, so focus stays where it is
      connectorsKey = key;
      renderConnectors();
    }
    show("start");
  }

  function renderConnectors() {
    const list = $("connectors");
    list.replaceChildren();
    for (const k of charger.connectors) {
      const li = document.createElement("li");
      const name = document.createElement("p");
      name.className = "name";
      const kind = [KIND_WORDS[k.standard], KIND_WORDS[k.format]].filter(Boolean).join(" ");
      name.textContent = `Connector ${k.connector_id}` + (kind ? ` · ${kind}` : "");
      const state = document.createElement("p");
      state.className = "state";
      state.textContent = charger.online ? (CONNECTOR_WORDS[k.status] || k.status)
        : "Charger offline";
      li.append(name, state);
      if (charger.online && STARTABLE.includes(k.status)) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "primary start";
        b.dataset.connector = String(k.connector_id);
        b.addEventListener("click", () => start(k.connector_id, b));
        li.append(b);
      }
      list.append(li);
    }
    refreshStartButtons();
  }

  function refreshStartButtons() {
    const wait = Math.ceil((blockedUntil - Date.now()) / 1000);
    for (const b of document.querySelectorAll("button.start")) {
      const n = b.dataset.connector;
      b.disabled = wait > 0;
      b.textContent = wait > 0 ? `Start on connector ${n} (wait ${wait} s)`
        : `Start charging on connector ${n}`;
    }
    if (wait <= 0 && blockTimer) {
      clearInterval(blockTimer);
      blockTimer = null;
    }
  }

  function blockStarts(seconds) {
    blockedUntil = Date.now() + seconds * 1000;
    clearInterval(blockTimer);
    blockTimer = setInterval(refreshStartButtons, 1000);
    refreshStartButtons();
  }

  function startError(r, id) {
    const errors = r.body.errors || {};
    switch (r.status) {
      case 0: return NETWORK;
      case 400: return "This charger is offline right now, so it cannot start a session. "
        + "Try again in a few minutes or use another charger.";
      case 404: return `We cannot find charger ${code}, or it does not take payments here.`;
      case 409: return `Connector ${id} is busy: ${BUSY_WORDS[r.body.connector_status]
        || "it cannot start right now."} Try another connector or wait a few minutes.`;
      case 422:
        if (errors.email) return "Please check your email address, or leave the field empty.";
        if (errors.connector_id) return `This charger has no connector ${id}.`;
        return "The charger code in this link is not valid. Scan the QR code on the charger again.";
      case 429: return tooMany(r.retryAfter);
      case 503: return "The payment service is not answering right now. Please try again in a minute.";
      default: return generic(r.status);
    }
  }

  async function start(id, button) {
    if (Date.now() < blockedUntil) return;
    showError("");
    const email = $("email");
    const address = email.value.trim();
    if (address && !email.checkValidity()) {
      email.setAttribute("aria-invalid", "true");
      showError("Please check your email address, or leave the field empty.");
      email.focus();
      return;
    }
    email.removeAttribute("aria-invalid");
    button.disabled = true;
    setStatus(`Starting a session on connector ${id}…`);
    const body = { code, connector_id: id };
    if (address) body.email = address;
    const r = await api("POST", `${API}/sessions`, body);
    if (r.status === 201) {
      token = r.body.session_token;
      session = r.body.data;
      payment = r.body.payment;
      sessionStorage.setItem(storeKey, token);
      showPay();
      return;
    }
    if (r.status === 429) blockStarts(r.retryAfter);
    else button.disabled = false;
    if (r.status === 422 && (r.body.errors || {}).email) email.setAttribute("aria-invalid", "true");
    setStatus("");
    showError(startError(r, id));
    if (r.status === 400 || r.status === 409) schedule(pollCharger, 0); // show the new state
  }

  // ---- payment ---------------------------------------------------------------------------
  function showPay() {
    clearTimeout(pollTimer);
    const p = session.pricing;
    const hold = charger ? ` A hold of ${money(charger.preauth_amount, p.currency)} is placed on your card.` : "";
    $("pay-summary").textContent = `Connector ${session.connector_id}: ${money(p.price_per_kwh, p.currency)} `
      + `per kWh plus a start fee of ${money(p.start_fee, p.currency)}.${hold}`;
    $("charger-name").textContent = session.charger.name || code;
    setStatus(sessionWords(session));
    $("pay").disabled = false;
    $("cancel").disabled = false;
    if (payments === "stripe") {
      $("stripe-pay").hidden = false;
      mountStripe();
    } else {
      $("local-pay").hidden = false;
    }
    show("pay", true);
  }

  function loadStripe() {
    return new Promise((resolve, reject) => {
      if (window.Stripe) return resolve(window.Stripe);
      const s = document.createElement("script");
      s.src = "https://js.stripe.com/v3/";
      s.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("no Stripe")));
      s.onerror = () => reject(new Error("Stripe.js did not load"));
      document.head.append(s);
    });
  }

  async function mountStripe() {
    if (stripeParts) return;
    let Stripe;
    try {
      Stripe = await loadStripe();
    } catch (e) {
      $("pay").disabled = true;
      showError("The card form could not load. Check your phone's internet connection, "
        + "then reload this page.");
      return;
    }
    const stripe = Stripe(payment.publishable_key,
      payment.stripe_account_id ? { stripeAccount: payment.stripe_account_id } : undefined);
    const elements = stripe.elements({ clientSecret: payment.client_secret });
    elements.create("payment").mount("#payment-element");
    stripeParts = { stripe, elements };
  }

  async function payStripe() {
    if (!stripeParts) return false;
    const { error } = await stripeParts.stripe.confirmPayment({
      elements: stripeParts.elements, redirect: "if_required",
      confirmParams: { return_url: location.origin + location.pathname },
    });
    if (error) {
      // Stripe's own sentences for the card and the form are written for payers
      showError(error.type === "card_error" || error.type === "validation_error" ? error.message
        : "The payment did not go through. Please try again.");
      return false;
    }
    return true;
  }

  async function payLocal() {
    const method = document.querySelector('input[name="card"]:checked').value;
    const id = payment.client_secret.split("_secret_")[0];
    const r = await api("POST", `${LOCAL_CONFIRM}${encodeURIComponent(id)}/confirm`,
      { client_secret: payment.client_secret, payment_method: method });
    if (r.status === 200 && !r.body.last_payment_error) return true;
    if (r.status === 200) {
      showError("Your card was declined. No money was taken. Choose another card, or cancel.");
    } else if (r.status === 429) {
      showError(tooMany(r.retryAfter));
    } else if (r.status === 409) {
      return true; // paid already (a second tap): go on to the session
    } else {
      showError(r.status === 0 ? NETWORK : generic(r.status));
    }
    return false;
  }

  async function pay() {
    showError("");
    $("pay").disabled = true;
    $("cancel").disabled = true;
    setStatus("Checking your payment…");
    const paid = payments === "stripe" ? await payStripe() : await payLocal();
    if (!paid) {
      setStatus(sessionWords(session));
      $("pay").disabled = false;
      $("cancel").disabled = false;
      return;
    }
    await confirmSession();
  }

  async function confirmSession() {
    setStatus("Payment approved. Asking the charger to start…");
    const r = await api("POST", `${API}/sessions/${encodeURIComponent(token)}/confirm`);
    if (r.status === 200) {
      session = r.body.data;
      if (session.status === "created") {
        showError("Your payment is not confirmed yet. Please try again.");
        $("pay").disabled = false;
        $("cancel").disabled = false;
        return;
      }
      renderSession(true);
      return;
    }
    if (r.status === 404) return sessionGone();
    showError(r.status === 429 ? tooMany(r.retryAfter) : r.status === 0 ? NETWORK : generic(r.status));
    $("pay").disabled = false;
    $("cancel").disabled = false;
  }

  async function cancel(button) {
    showError("");
    button.disabled = true;
    const r = await api("POST", `${API}/sessions/${encodeURIComponent(token)}/cancel`);
    if (r.status === 200) {
      session = r.body.data;
      renderSession(true);
      return;
    }
    button.disabled = false;
    if (r.status === 404) return sessionGone();
    if (r.status === 409) {
      showError("The session can no longer be cancelled: charging has started. Use Stop instead.");
      return pollSession();
    }
    showError(r.status === 429 ? tooMany(r.retryAfter) : r.status === 0 ? NETWORK : generic(r.status));
  }

  // ---- the live session ------------------------------------------------------------------
  async function pollSession() {
    const r = await api("GET", `${API}/sessions/${encodeURIComponent(token)}`);
    if (!token) return;
    if (r.status === 200) {
      session = r.body.data;
      if (r.body.payment) payment = r.body.payment;
      if (session.status === "created" && view !== "pay") return showPay();
      if (view === "pay") return; // the driver is paying: nothing to redraw
      renderSession(false);
    } else if (r.status === 429) {
      setStatus(`Too many requests from this network: live updates paused for ${r.retryAfter} seconds.`, true);
      schedule(pollSession, r.retryAfter * 1000);
    } else if (r.status === 404) {
      sessionGone();
    } else {
      showError(r.status === 0 ? NETWORK : generic(r.status));
      schedule(pollSession, SESSION_POLL_MS);
    }
  }

  function renderSession(focus) {
    const s = session;
    const p = s.pricing;
    $("charger-name").textContent = s.charger.name || code;
    setStatus(sessionWords(s));
    if (s.status === "completed") return renderReceipt(focus);
    $("s-status").textContent = sessionWords(s).replace(/[.…!]+$/, "");
    $("s-energy").textContent = kwh(s.energy_kwh);
    $("s-power").textContent = s.status === "charging" ? kw(s.power_w) : "—";
    const amps = offeredCurrent(s);
    $("s-offered-row").hidden = amps === null;
    if (amps !== null) {
      $("s-offered").textContent = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 })
        .format(amps) + " A";
    }
    $("s-cost").textContent = money(s.cost_amount, p.currency);
    renderElapsed();
    $("stop").hidden = s.status !== "charging";
    $("stop").disabled = false;
    $("cancel-session").hidden = !["authorized", "starting"].includes(s.status);
    show("session", focus);
    if (TERMINAL.includes(s.status)) {
      sessionStorage.removeItem(storeKey);
      $("stop").hidden = true;
      $("again-inline") || addAgainButton();
    } else {
      schedule(pollSession, SESSION_POLL_MS);
    }
  }

  function addAgainButton() {
    const b = document.createElement("button");
    b.id = "again-inline";
    b.type = "button";
    b.textContent = "Start another session";
    b.addEventListener("click", again);
    document.querySelector("#session-view .actions").append(b);
  }

  function renderElapsed() {
    const s = session;
    if (!s || !s.charging_started_at) {
      $("s-elapsed").textContent = "—";
      return;
    }
    const end = s.completed_at ? Date.parse(s.completed_at) : Date.now();
    $("s-elapsed").textContent = duration(end - Date.parse(s.charging_started_at));
  }

  async function stop() {
    showError("");
    const button = $("stop");
    button.disabled = true;
    setStatus("Stopping…");
    const r = await api("POST", `${API}/sessions/${encodeURIComponent(token)}/stop`);
    if (r.status === 200) {
      session = r.body.data;
      return renderSession(false);
    }
    button.disabled = false;
    if (r.status === 404) return sessionGone();
    if (r.status === 400) {
      showError("The charger did not confirm the stop. Unplug your car to end the session; "
        + "you pay only for the energy used.");
    } else if (r.status === 429) {
      showError(tooMany(r.retryAfter));
    } else {
      showError(r.status === 0 ? NETWORK : generic(r.status));
    }
    setStatus(sessionWords(session));
  }

  function renderReceipt(focus) {
    const s = session;
    const cur = s.pricing.currency;
    clearTimeout(pollTimer);
    sessionStorage.removeItem(storeKey);
    $("r-energy").textContent = kwh(s.energy_kwh);
    $("r-cost").textContent = money(s.cost_amount, cur);
    $("r-captured").textContent = money(s.amount_captured, cur);
    $("r-released").textContent = s.amount_authorized === null ? "—"
      : money(s.amount_authorized - (s.amount_captured || 0), cur);
    $("r-tax").textContent = money(s.tax_amount, cur);
    $("r-email").textContent = s.driver_email ? `Receipt email: ${s.driver_email}` : "";
    show("receipt", focus);
  }

  function sessionGone() {
    sessionStorage.removeItem(storeKey);
    token = null;
    showError("This session has ended or its link has expired.");
    again(false);
  }

  function again(clear = true) {
    if (clear !== false) showError("");
    token = session = payment = null;
    stripeParts = null;
    sessionStorage.removeItem(storeKey);
    const inline = $("again-inline");
    if (inline) inline.remove();
    $("local-pay").hidden = $("stripe-pay").hidden = true;
    connectorsKey = "";
    view = "start";
    setStatus("Loading the charger…");
    pollCharger().then(() => $("charger-name").focus());
  }

  // ---- start -----------------------------------------------------------------------------
  async function resume() {
    const r = await api("GET", `${API}/sessions/${encodeURIComponent(token)}`);
    if (r.status !== 200) {
      sessionStorage.removeItem(storeKey);
      token = null;
      view = "start";
      return pollCharger();
    }
    session = r.body.data;
    payment = r.body.payment;
    if (session.status === "created" && payment) {
      // back from a bank's page (3-D Secure): Stripe adds redirect_status to the return URL
      const back = new URLSearchParams(location.search).get("redirect_status");
      showPay();
      if (back === "succeeded") await confirmSession();
      return;
    }
    renderSession(false);
  }

  function init() {
    document.title = `Scan to Pay · ${code}`;
    $("charger-code").textContent = `Charger code ${code}`;
    $("pay").addEventListener("click", pay);
    $("cancel").addEventListener("click", () => cancel($("cancel")));
    $("cancel-session").addEventListener("click", () => cancel($("cancel-session")));
    $("stop").addEventListener("click", stop);
    $("again").addEventListener("click", again);
    setInterval(() => {
      if (view === "session") renderElapsed();
    }, 1000);
    token = sessionStorage.getItem(storeKey);
    view = "start";
    if (token) resume();
    else pollCharger();
  }

  init();
})();
