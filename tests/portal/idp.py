"""An OpenID Connect identity provider for the console's tests: discovery, keys, an authorization
endpoint that signs in whoever the test says (no login page of its own), and a token endpoint that
checks the client, the code, the redirect and the PKCE verifier before it issues an ID token. It can
issue a wrong token on purpose (another audience, another key, expired) to see the console refuse it."""

import asyncio
import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from consentry_dev.launchers.process import free_port

CLIENT_ID, CLIENT_SECRET = "consentry-console", "console-secret-for-tests"


class StandInIdentityProvider:
    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.user: str | None = None  # who signs in at the next authorization (their subject: "sub-" + it)
        self.wrong: str = ""  # "audience", "key", "expired": the next token is wrong that way
        self._key = RSAKey.generate_key(2048, parameters={"kid": "test-1", "alg": "RS256", "use": "sig"})
        self._other = RSAKey.generate_key(2048, parameters={"kid": "test-1", "alg": "RS256", "use": "sig"})
        self._codes: dict[str, dict] = {}
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/.well-known/openid-configuration", self.discovery), Route("/jwks", self.jwks),
                                 Route("/authorize", self.authorize), Route("/token", self.token, methods=["POST"])])

    async def start(self) -> None:
        self._server = uvicorn.Server(uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_config=None,
                                                     access_log=False, lifespan="off"))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                await self._task
                raise OSError(f"the test identity provider could not listen on port {self.port}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                             "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                             "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"]})

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse(KeySet([self._key]).as_dict(private=False))

    async def authorize(self, request: Request) -> RedirectResponse:
        q = request.query_params
        assert (q["client_id"], q["response_type"], q["code_challenge_method"]) == (CLIENT_ID, "code", "S256")
        assert "openid" in q["scope"].split()
        if self.user is None:
            return RedirectResponse(q["redirect_uri"] + "?" + urlencode({"error": "access_denied", "state": q["state"]}))
        code = secrets.token_urlsafe(16)
        self._codes[code] = {"user": self.user, "nonce": q["nonce"], "challenge": q["code_challenge"],
                             "redirect_uri": q["redirect_uri"]}
        return RedirectResponse(q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}))

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        given = base64.b64decode(request.headers.get("authorization", "").removeprefix("Basic ")).decode()
        grant = self._codes.pop(str(form.get("code", "")), None)  # a code works once
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (given != f"{CLIENT_ID}:{CLIENT_SECRET}" or grant is None or challenge != grant["challenge"]
                or form.get("redirect_uri") != grant["redirect_uri"]):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now, wrong, self.wrong = int(time.time()), self.wrong, ""
        claims = {"iss": self.issuer, "aud": "someone-else" if wrong == "audience" else CLIENT_ID,
                  "sub": f"sub-{grant['user']}", "preferred_username": grant["user"], "nonce": grant["nonce"],
                  "iat": now, "exp": now - 3600 if wrong == "expired" else now + 300}
        key = self._other if wrong == "key" else self._key
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                             "id_token": jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, key)})
