#!/usr/bin/python3
"""A token endpoint for outbox's OAuth2 tests, over HTTPS with the test CA.

    oauth-emulator.py DIR PORT CERT KEY

Grants: client_credentials (client_secret, or a client_assertion JWT signed RS256 by the
registered certificate's key, with x5t#S256 checked), refresh_token (optionally rotated,
with reuse detection: presenting a used refresh token revokes its whole chain, as
Microsoft and Google do), and the device-code grant (RFC 8628). RFC 7662 introspection
for Dovecot's oauth2 passdb. Short token lifetimes, counters and fault switches:

    DIR/clients.json   {"CLIENT_ID": {"secret": "...", "certificate": "PEM file"}}
    DIR/control.json   written by tests, read on every request:
                       {"lifetime": 3600, "rotate": false, "fail": 0, "delay": 0,
                        "device_approve_after": 2, "user": "user@smarthost.test",
                        "audience": "smtp", "reuse_grace": 0, "chunked": false}
    DIR/counters.json  written after every request: grants by type, introspections,
                       errors, reuse detections
    DIR/refresh.json   refresh tokens issued by the device grant are also seeded here by
                       tests: {"TOKEN": {"chain": "c1", "used": false, "revoked": false}}
"""
import base64, hashlib, http.server, json, os, secrets, ssl, sys, threading, time, urllib.parse
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

DIR, PORT, CERT, KEY = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
access = {}  # token -> {"expires": t, "audience": a, "user": u}
counters = {"client_credentials": 0, "client_credentials_jwt": 0, "refresh_token": 0, "device_code": 0,
            "device_authorization": 0, "introspections": 0, "introspections_active": 0, "errors": 0,
            "reuse_detected": 0, "invalid_grant": 0, "requests": 0}
devices = {}  # device_code -> {"polls": n, "user_code": c}


def load(name, default):
    try:
        with open(os.path.join(DIR, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(name, value):
    tmp = os.path.join(DIR, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.rename(tmp, os.path.join(DIR, name))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_assertion(assertion, client, token_url):
    """RFC 7523 client assertion: RS256 over the registered certificate, x5t#S256 of it."""
    with open(client["certificate"], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    head, body, sig = assertion.split(".")
    header = json.loads(unb64url(head))
    claims = json.loads(unb64url(body))
    thumb = b64url(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())
    if header.get("alg") != "RS256" or header.get("typ", "JWT") != "JWT":
        return "bad alg"
    if header.get("x5t#S256") != thumb:
        return "x5t#S256 does not match the registered certificate"
    cert.public_key().verify(unb64url(sig), (head + "." + body).encode(), padding.PKCS1v15(), hashes.SHA256())
    now = time.time()
    if claims.get("aud") != token_url:
        return "aud is %r, not the token endpoint" % claims.get("aud")
    if claims.get("iss") != claims.get("sub") or not claims.get("jti"):
        return "iss/sub/jti"
    if not (claims.get("nbf", 0) <= now + 60 and claims.get("exp", 0) > now and claims["exp"] - now <= 3600):
        return "exp/nbf"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        with open(os.path.join(DIR, "emulator.log"), "a") as f:
            f.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    def reply(self, status, body, chunked=False):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        if chunked:
            # Real endpoints answer either way; the client must read both.
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 100):
                part = data[i:i + 100]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def error(self, status, code, text):
        counters["errors"] += 1
        if code == "invalid_grant":
            counters["invalid_grant"] += 1
        self.reply(status, {"error": code, "error_description": text})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
        control = load("control.json", {})
        with lock:
            counters["requests"] += 1
            try:
                if self.path == "/introspect":
                    self.introspect(form, control)
                    return
                if control.get("delay"):
                    time.sleep(control["delay"])
                if control.get("fail"):
                    self.error(control["fail"], "temporarily_unavailable", "fault switch")
                    return
                if self.path == "/devicecode":
                    self.device_authorization(form, control)
                elif self.path == "/token":
                    self.token(form, control)
                else:
                    self.error(404, "not_found", self.path)
            finally:
                save("counters.json", counters)

    def introspect(self, form, control):
        counters["introspections"] += 1
        entry = access.get(form.get("token", ""))
        if not entry or entry["expires"] < time.time() or entry["audience"] != control.get("audience", "smtp"):
            self.reply(200, {"active": False})
            return
        counters["introspections_active"] += 1
        self.reply(200, {"active": True, "username": entry["user"], "email": entry["user"], "exp": int(entry["expires"])})

    def device_authorization(self, form, control):
        counters["device_authorization"] += 1
        code = secrets.token_urlsafe(24)
        devices[code] = {"polls": 0, "user_code": secrets.token_hex(4).upper()}
        self.reply(200, {"device_code": code, "user_code": devices[code]["user_code"],
                         "verification_uri": "https://127.0.0.1:%d/device" % PORT, "expires_in": 900, "interval": 1,
                         "message": "To sign in, open https://127.0.0.1:%d/device and enter the code %s." % (PORT, devices[code]["user_code"])})

    def issue(self, control, refresh=None, chain=None):
        token = secrets.token_urlsafe(1200)  # real access tokens are 1.2-2.5 kB
        lifetime = control.get("lifetime", 3600)
        access[token] = {"expires": time.time() + lifetime, "audience": control.get("audience", "smtp"),
                         "user": control.get("user", "user@smarthost.test")}
        body = {"token_type": "Bearer", "access_token": token, "expires_in": lifetime, "ext_expires_in": lifetime}
        if chain is not None:
            tokens = load("refresh.json", {})
            if refresh is None or control.get("rotate"):
                new = secrets.token_urlsafe(40)
                tokens[new] = {"chain": chain, "used": False, "revoked": False}
                body["refresh_token"] = new
            if refresh is not None and control.get("rotate"):
                tokens[refresh]["used"] = True
                tokens[refresh]["used_at"] = time.time()
            save("refresh.json", tokens)
        self.reply(200, body, chunked=control.get("chunked", False))

    def token(self, form, control):
        clients = load("clients.json", {})
        grant = form.get("grant_type")
        client = clients.get(form.get("client_id", ""))
        if grant == "client_credentials":
            if client is None:
                return self.error(400, "invalid_client", "unknown client")
            if "client_assertion" in form:
                if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                    return self.error(400, "invalid_request", "client_assertion_type")
                try:
                    problem = verify_assertion(form["client_assertion"], client, "https://127.0.0.1:%d/token" % PORT)
                except Exception as e:  # a bad signature raises
                    problem = "bad assertion: %r" % e
                if problem:
                    return self.error(401, "invalid_client", problem)
                counters["client_credentials_jwt"] += 1
            elif form.get("client_secret") != client.get("secret"):
                return self.error(401, "invalid_client", "bad secret")
            else:
                counters["client_credentials"] += 1
            if not form.get("scope"):
                return self.error(400, "invalid_scope", "scope required")
            return self.issue(control)
        if grant == "refresh_token":
            if client is None or ("secret" in client and form.get("client_secret") != client["secret"]):
                return self.error(401, "invalid_client", "client authentication")
            tokens = load("refresh.json", {})
            entry = tokens.get(form.get("refresh_token", ""))
            if entry is None or entry["revoked"]:
                return self.error(400, "invalid_grant", "AADSTS70000: refresh token revoked or unknown")
            if entry["used"] and time.time() - entry.get("used_at", 0) <= control.get("reuse_grace", 0):
                # Okta's and Auth0's grace period: the client may not have received the
                # rotated token (a crash, a lost answer).
                counters["reuse_within_grace"] = counters.get("reuse_within_grace", 0) + 1
            elif entry["used"]:
                counters["reuse_detected"] += 1
                for t in tokens.values():
                    if t["chain"] == entry["chain"]:
                        t["revoked"] = True
                save("refresh.json", tokens)
                return self.error(400, "invalid_grant", "AADSTS70000: refresh token reused; chain revoked")
            counters["refresh_token"] += 1
            return self.issue(control, refresh=form["refresh_token"], chain=entry["chain"])
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            device = devices.get(form.get("device_code", ""))
            if device is None:
                return self.error(400, "expired_token", "unknown device code")
            device["polls"] += 1
            if device["polls"] < control.get("device_approve_after", 2):
                return self.error(400, "authorization_pending", "waiting for the user")
            del devices[form["device_code"]]
            counters["device_code"] += 1
            return self.issue(control, chain=secrets.token_hex(4))
        return self.error(400, "unsupported_grant_type", str(grant))


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(os.path.join(DIR, "emulator.pid"), "w") as f:
    f.write(str(os.getpid()))
server.serve_forever()
