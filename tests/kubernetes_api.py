"""The part of a Kubernetes API server that OpenBao's Kubernetes auth method calls: TokenReview.

It signs ServiceAccount tokens as a cluster signs projected ones (ES256, the `kubernetes.io` claims,
an audience, an expiry) and reviews them as the API server does: authenticated only when the
signature, the expiry and an audience the reviewer asked for hold, and the account still exists.
The caller of a review must itself show a token of the cluster (the auth-delegator binding)."""

import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from consentry_dev.launchers import free_port
from services.common.pki import DevCA

REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


class KubernetesApi:
    def __init__(self, ca: DevCA, issuer: str = "https://kubernetes.default.svc.cluster.local") -> None:
        """Served over TLS with a certificate of `ca` (OpenBao outside a cluster insists on a CA)."""
        self._key, self._issuer = ECKey.generate_key("P-256"), issuer
        self._uids: dict[tuple[str, str], str] = {}  # (namespace, account): its uid, while it exists
        self.ca_pem = ca.ca.cert.read_text()
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        tls, served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), ca.issue_server("kubernetes-api")
        tls.load_cert_chain(served.cert, served.key)
        self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> "KubernetesApi":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token(self, namespace: str, account: str, audience: str = "openbao", lifetime_s: int = 3600) -> str:
        """A projected ServiceAccount token, as the kubelet mounts it in a pod."""
        uid = self._uids.setdefault((namespace, account), str(uuid.uuid4()))
        now = int(time.time())
        claims = {"iss": self._issuer, "aud": [audience], "iat": now, "nbf": now, "exp": now + lifetime_s,
                  "sub": f"system:serviceaccount:{namespace}:{account}",
                  "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account, "uid": uid},
                                    "pod": {"name": f"{account}-0", "uid": str(uuid.uuid4())}}}
        return jwt.encode({"alg": "ES256"}, claims, self._key)

    def delete_account(self, namespace: str, account: str) -> None:
        """Its tokens are no longer authenticated (a new account of the name gets a new uid)."""
        self._uids.pop((namespace, account), None)

    def review(self, token: str, audiences: list[str]) -> dict:
        try:
            claims = jwt.decode(token, self._key).claims
        except (JoseError, ValueError):
            return {"authenticated": False}
        k8s, now = claims.get("kubernetes.io", {}), time.time()
        account = k8s.get("serviceaccount", {})
        granted = [a for a in claims.get("aud", []) if not audiences or a in audiences]
        if (claims.get("exp", 0) <= now or not granted
                or self._uids.get((k8s.get("namespace"), account.get("name"))) != account.get("uid")):
            return {"authenticated": False}
        return {"authenticated": True, "audiences": granted,
                "user": {"username": f"system:serviceaccount:{k8s['namespace']}:{account['name']}",
                         "uid": account["uid"]}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if self.path != REVIEW_PATH:
                    return self._answer(404, {"kind": "Status", "status": "Failure", "code": 404})
                if not api.review(bearer, [])["authenticated"]:
                    return self._answer(401, {"kind": "Status", "status": "Failure", "code": 401})
                spec = body.get("spec", {})
                self._answer(201, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                   "status": api.review(spec.get("token", ""), spec.get("audiences") or [])})

            def _answer(self, code: int, document: dict) -> None:
                data = json.dumps(document).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_) -> None:
                pass

        return Handler
