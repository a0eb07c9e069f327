#!/usr/bin/env python3
"""The customer, admin and load parts of the compose test (scripts/compose-test.sh).

    journey.py journey STATE     register -> OTP mail -> verify -> login; the admin
                                 creates a product; cart -> order -> confirmation mail.
                                 Writes what the load needs (product, tokens) to STATE.
    journey.py load STATE OUT    until SIGTERM: GET loops and an order loop through
                                 nginx, every request counted by the phase named in
                                 STATE.phase at the time it was sent; OUT gets the counts
                                 (JSON) when it stops. Exits 1 if any request failed.

Settings come from the environment: SHOP_URL (nginx), MAILDEV_URL, ADMIN_EMAIL,
ADMIN_PASSWORD, SHOP_NAME, CORS_ALLOWED_ORIGINS. Standard library only.

What counts as failed: any answer that is not the success the request expects, and any
connection error. The GET loops keep their connection alive as a browser does and, as
browsers and curl do, send a request once more on a new connection when a reused idle
connection turns out to be closed before any answer (an nginx reload closes idle
keep-alive connections); those are counted apart as `reconnects`, never as successes
hidden from view. The order loop opens a connection per request.
"""

import http.client
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

URL = urllib.parse.urlsplit(os.environ.get("SHOP_URL", "http://127.0.0.1:8080"))
MAILDEV = os.environ.get("MAILDEV_URL", "http://127.0.0.1:1080")
PASSWORD = "compose journey password"


def exchange(method, path, raw=None, headers=None, conn=None, timeout=30):
    """One request with a raw body; returns (status, response headers, parsed JSON or
    None). A new connection unless `conn` is given."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(URL.hostname, URL.port or 80, timeout=timeout)
    try:
        conn.request(method, path, body=raw, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        if own:
            conn.close()
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    return resp.status, resp.headers, data


def request(method, path, body=None, token=None, headers=None, conn=None, timeout=30):
    """One JSON request; returns (status, parsed JSON or None)."""
    hdrs = {"Accept": "application/json"}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    hdrs.update(headers or {})
    raw = None if body is None else json.dumps(body)
    status, _, data = exchange(method, path, raw, hdrs, conn, timeout)
    return status, data


def expect(status, data, want, what):
    if status != want:
        raise SystemExit(f"{what}: expected {want}, got {status}: {json.dumps(data)[:500]}")
    return data


def mails_to(address):
    with urllib.request.urlopen(f"{MAILDEV}/email", timeout=10) as resp:
        mails = json.load(resp)
    return [m for m in mails if any(t.get("address") == address for t in m.get("to", []))]


def wait_for_mail(address, subject, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in mails_to(address):
            if mail.get("subject") == subject:
                return mail
        time.sleep(0.2)
    raise SystemExit(f"no mail {subject!r} to {address} within {timeout} s")


def login(email, password):
    status, data = request("POST", "/api/auth/login", {"email": email, "password": password})
    return expect(status, data, 200, f"login {email}")["data"]["access_token"]


def new_customer():
    """register -> OTP mail -> verify -> login -> add an address, as the frontend does."""
    email = f"compose-{uuid.uuid4().hex[:12]}@example.com"
    status, data = request(
        "POST", "/api/auth/register", {"email": email, "password": PASSWORD, "name": "Compose Journey"}
    )
    started = expect(status, data, 202, "register")["data"]
    mail = wait_for_mail(email, "Your verification code")
    code = re.search(r"code is (\d{6})", mail.get("text", ""))
    if not code:
        raise SystemExit(f"no code in the OTP mail: {mail.get('text', '')[:300]}")
    status, data = request(
        "POST",
        "/api/auth/verify-otp",
        {"email": email, "registration_token": started["registration_token"], "otp": code.group(1)},
    )
    expect(status, data, 200, "verify-otp")
    token = login(email, PASSWORD)
    # An order ships somewhere: the customer's first address becomes their default.
    status, data = request(
        "POST",
        "/api/me/addresses",
        {"name": "Compose Journey", "line1": "1 Compose Street", "city": "Composeville",
         "postal_code": "12345", "country": "US"},
        token=token,
    )
    expect(status, data, 201, "add an address")
    return email, token


def place_order(token, product_id, conn=None):
    """Add one unit to the cart and order it; returns (status, data) of the order."""
    status, data = request(
        "POST", "/api/cart/items", {"product_id": product_id, "quantity": 1}, token=token, conn=conn
    )
    if status not in (200, 201):
        return status, data
    return request(
        "POST", "/api/orders", {}, token=token, conn=conn, headers={"Idempotency-Key": str(uuid.uuid4())}
    )


def browser_and_limits():
    """What the shared nginx config promises, through the compose nginx: CORS for the
    configured origin only, and a body past the 64 KiB JSON limit refused with 413 in
    the API's error shape before the API reads it."""
    allowed = os.environ["CORS_ALLOWED_ORIGINS"].split(",")[0].strip()
    status, headers, _ = exchange("GET", "/api/products", headers={"Origin": allowed})
    if status != 200 or headers.get("Access-Control-Allow-Origin") != allowed:
        raise SystemExit(f"CORS for {allowed}: {status}, {headers.get('Access-Control-Allow-Origin')!r}")
    status, headers, _ = exchange("GET", "/api/products", headers={"Origin": "https://evil.example"})
    if headers.get("Access-Control-Allow-Origin"):
        raise SystemExit(f"CORS allowed a foreign origin: {headers.get('Access-Control-Allow-Origin')!r}")
    big = json.dumps({"email": "x@example.com", "password": "p" * (65 * 1024)})
    status, _, data = exchange(
        "POST", "/api/auth/login", big, {"Content-Type": "application/json", "Origin": allowed}
    )
    if status != 413 or (data or {}).get("error") != "PAYLOAD_TOO_LARGE":
        raise SystemExit(f"a 65 KiB login body: {status} {json.dumps(data)[:300]}")
    print("journey: CORS only for the configured origin; a body past 64 KiB is a 413 in the error shape")


def journey(state_path):
    browser_and_limits()
    admin = login(os.environ["ADMIN_EMAIL"], os.environ["ADMIN_PASSWORD"])
    status, data = request(
        "POST",
        "/api/admin/products",
        {
            "name": f"Compose journey rice {uuid.uuid4().hex[:6]}",
            "description": "Made by the compose test.",
            "price_cents": 250,
            "category": "STAPLES",
            "stock": 1_000_000,
        },
        token=admin,
    )
    product = expect(status, data, 201, "admin creates a product")["data"]["id"]
    status, data = request("GET", f"/api/products/{product}")
    expect(status, data, 200, "the new product is listed")
    email, token = new_customer()
    status, data = place_order(token, product)
    number = expect(status, data, 201, "order")["data"]["number"]
    started = time.monotonic()
    wait_for_mail(email, f"Your {os.environ.get('SHOP_NAME', 'Shop')} order #{number} is confirmed")
    print(f"journey: customer registered, verified and ordered #{number}; "
          f"confirmation mail after {time.monotonic() - started:.1f} s")
    # The load places orders as a second customer, so the journey's stays countable.
    _, load_token = new_customer()
    with open(state_path, "w") as f:
        json.dump({"product": product, "token": load_token, "phase": "start"}, f)


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_phase = {}

    def _kind(self, phase, kind):
        p = self.by_phase.setdefault(phase, {})
        return p.setdefault(kind, {"ok": 0, "failed": 0, "reconnects": 0, "errors": {}})

    def add(self, phase, kind, ok, note=None):
        with self.lock:
            k = self._kind(phase, kind)
            if ok:
                k["ok"] += 1
            else:
                k["failed"] += 1
                k["errors"][note] = k["errors"].get(note, 0) + 1

    def reconnect(self, phase, kind):
        with self.lock:
            self._kind(phase, kind)["reconnects"] += 1


def load(state_path, out_path):
    state = json.load(open(state_path))
    phase_file = state_path + ".phase"
    stop = threading.Event()
    counts = Counts()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def phase():
        try:
            with open(phase_file) as f:
                return f.read().strip() or "start"
        except OSError:
            return "start"

    def getter(paths):
        conn = None
        i = 0
        while not stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            p = phase()
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(URL.hostname, URL.port or 80, timeout=30)
            try:
                status, _ = request("GET", path, conn=conn)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                conn = None
                if not reused:
                    counts.add(p, "get", False, type(e).__name__)
                    continue
                # A reused idle connection closed under us: once more, new connection.
                counts.reconnect(p, "get")
                try:
                    status, _ = request("GET", path)
                except OSError as e2:
                    counts.add(p, "get", False, type(e2).__name__)
                    continue
            except OSError as e:
                conn.close()
                conn = None
                counts.add(p, "get", False, type(e).__name__)
                continue
            counts.add(p, "get", status == 200, f"HTTP {status} {path}")

    def orderer():
        while not stop.is_set():
            p = phase()
            try:
                status, data = place_order(state["token"], state["product"])
            except OSError as e:
                counts.add(p, "order", False, type(e).__name__)
                continue
            note = f"HTTP {status} {(data or {}).get('error', '')}".strip()
            counts.add(p, "order", status == 201, note)
            time.sleep(0.05)

    product = state["product"]
    threads = [
        threading.Thread(target=getter, args=(["/api/products?page=1&page_size=20", f"/api/products/{product}"],)),
        # Not /health/ready: through nginx it answers for whichever replica got it, and a
        # draining replica is rightly not ready while it still serves everything else.
        threading.Thread(target=getter, args=(["/api/products", "/api/products/count"],)),
        threading.Thread(target=getter, args=(["/products/productimage", "/stats/instance"],)),
        threading.Thread(target=orderer),
    ]
    for t in threads:
        t.start()
    with open(out_path + ".ready", "w") as f:
        f.write("ready\n")
    while not stop.is_set():
        stop.wait(0.5)
    for t in threads:
        t.join()
    with open(out_path, "w") as f:
        json.dump(counts.by_phase, f, indent=1, sort_keys=True)
    failed = 0
    for name, kinds in counts.by_phase.items():
        for kind, k in sorted(kinds.items()):
            failed += k["failed"]
            errors = ", ".join(f"{n}x {e}" for e, n in sorted(k["errors"].items()))
            print(f"load {name:<12} {kind:<5} ok {k['ok']:>6}  failed {k['failed']:>3}  "
                  f"reconnects {k['reconnects']:>3}{'  (' + errors + ')' if errors else ''}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "journey":
        journey(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
