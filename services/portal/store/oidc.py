"""Sign-in to the console at the organisation's identity provider, by OpenID Connect: the authorization
code flow with PKCE (S256), a state and a nonce; the ID token's signature checked against the provider's
published keys (fetched again once when a token names a key not yet seen: the provider rotated them),
and its issuer, audience, nonce and expiry checked. authlib's PKCE and URL helpers, joserfc for the
token; the HTTP calls are httpx's."""

import secrets
import time

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from services.portal.domain import errors
from services.portal.domain.staff import Flow

DISCOVERY_TTL_S = 3600.0
ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]


class OidcProvider:
    def __init__(self, issuer: str, client_id: str, client_secret: str, redirect_uri: str,
                 scopes: str = "openid", timeout_s: float = 10.0) -> None:
        """`issuer` exactly as the provider states it: tokens must name it so, to the character."""
        self._issuer, self._client_id, self._secret = issuer, client_id, client_secret
        self._redirect, self._scopes, self._timeout = redirect_uri, scopes, timeout_s
        self._discovered: tuple[float, dict, KeySet] | None = None

    async def _metadata(self, fresh_keys: bool = False) -> tuple[dict, KeySet]:
        if fresh_keys or self._discovered is None or self._discovered[0] < time.monotonic():
            try:
                async with httpx.AsyncClient(timeout=self._timeout) as http:
                    url = f"{self._issuer.rstrip('/')}/.well-known/openid-configuration"
                    metadata = (await http.get(url)).raise_for_status().json()
                    keys = KeySet.import_key_set((await http.get(metadata["jwks_uri"])).raise_for_status().json())
            except (httpx.HTTPError, JoseError, KeyError, TypeError, ValueError):
                raise errors.PlatformUnavailable() from None
            if metadata.get("issuer") != self._issuer:  # a document for another issuer is no provider of ours
                raise errors.PlatformUnavailable()
            self._discovered = (time.monotonic() + DISCOVERY_TTL_S, metadata, keys)
        return self._discovered[1], self._discovered[2]

    async def start(self) -> tuple[str, Flow]:
        """Where to send the browser, and the flow it must come back with."""
        metadata, _ = await self._metadata()
        flow = Flow(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))
        url = add_params_to_uri(metadata["authorization_endpoint"], [
            ("response_type", "code"), ("client_id", self._client_id), ("redirect_uri", self._redirect),
            ("scope", self._scopes), ("state", flow.state), ("nonce", flow.nonce),
            ("code_challenge", create_s256_code_challenge(flow.verifier)), ("code_challenge_method", "S256")])
        return url, flow

    async def finish(self, flow: Flow, state: str, code: str) -> str:
        """The signed-in person's subject at the provider (the "sub" of a valid ID token);
        StaffSignInFailed for anything else."""
        if not (state and code) or not secrets.compare_digest(state.encode(), flow.state.encode()):
            raise errors.StaffSignInFailed()
        metadata, keys = await self._metadata()
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                token = (await http.post(metadata["token_endpoint"], auth=(self._client_id, self._secret), data={
                    "grant_type": "authorization_code", "code": code, "redirect_uri": self._redirect,
                    "code_verifier": flow.verifier})).raise_for_status().json()
            id_token = token["id_token"]
            kid = extract_compact(id_token.encode()).headers().get("kid")
            if kid and not any(k.kid == kid for k in keys.keys):
                _, keys = await self._metadata(fresh_keys=True)
            claims = jwt.decode(id_token, keys, algorithms=ALGORITHMS).claims
            jwt.JWTClaimsRegistry(leeway=60, iss={"essential": True, "value": self._issuer},
                                  aud={"essential": True, "value": self._client_id},
                                  nonce={"essential": True, "value": flow.nonce}, exp={"essential": True},
                                  sub={"essential": True}).validate(claims)
        except httpx.TransportError:
            raise errors.PlatformUnavailable() from None
        except (httpx.HTTPError, JoseError, KeyError, TypeError, ValueError):
            raise errors.StaffSignInFailed() from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise errors.StaffSignInFailed()
        return subject
