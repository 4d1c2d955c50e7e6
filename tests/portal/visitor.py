"""A person's browser as far as HTTP goes: it keeps the portal's cookies (httpx's jar would not send
Secure ones over the tests' plain HTTP) and fills in forms the way the pages render them."""

import re
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import httpx

from consentry.portal.v1 import portal_pb2 as pb
from tests.support import unique

HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def hidden_fields(html: str) -> dict[str, str]:
    return dict(HIDDEN.findall(html))


async def sign_in_link(links, subject_id: str | None = None, **fields) -> tuple[str, str]:
    """A sign-in link for a person of the caller's controller, and the person's id."""
    subject_id = subject_id or unique("mei")
    answer = await links.CreateSignInLink(pb.CreateSignInLinkRequest(
        subject_id=subject_id, jurisdiction=fields.pop("jurisdiction", "CN"), **fields))
    return answer.url, subject_id


class Visitor:
    def __init__(self, base_url: str, language: str = "en") -> None:
        self.http = httpx.AsyncClient(base_url=base_url, follow_redirects=False,
                                      headers={"accept-language": language}, timeout=30)
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[SimpleCookie] = []  # every Set-Cookie seen, with its attributes

    async def close(self) -> None:
        await self.http.aclose()

    def _remember(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            self.set_cookies.append(cookie)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or not morsel.value or morsel.value == '""':
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def _cookie_header(self) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    async def get(self, path: str) -> httpx.Response:
        return self._remember(await self.http.get(path, headers=self._cookie_header()))

    async def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self._remember(await self.http.post(path, data=data, headers=self._cookie_header()))

    async def ask_code(self, controller_id: str, address: str) -> httpx.Response:
        """Asks for a sign-in code as the pages do; the page that asks for the code."""
        page = await self.get(f"/{controller_id}/sign-in/code")
        assert page.status_code == 200, page.text
        return await self.post(f"/{controller_id}/sign-in/code", {**hidden_fields(page.text), "email": address})

    async def enter_code(self, controller_id: str, code_page: str, code: str) -> httpx.Response:
        return await self.post(f"/{controller_id}/sign-in/code/check", {**hidden_fields(code_page), "code": code})

    async def sign_in(self, url: str) -> httpx.Response:
        """Follows the link and continues, as the page asks; the answer to the form."""
        path = urlsplit(url).path
        page = await self.get(path)
        assert page.status_code == 200, page.text
        return await self.post(path.rsplit("/sign-in/", 1)[0] + "/sign-in", hidden_fields(page.text))
