"""ApiKeyMiddleware: every configured key is compared whatever matched (no early exit, equal-length
digests), and the header is read as UTF-8, the way clients send a non-ASCII key."""
import asyncio
import hmac

from api.src.http.api_keys import ApiKeyMiddleware


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def status_for(middleware, auth: bytes) -> int:
    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/v1/models", "method": "GET", "headers": [(b"authorization", auth)]}
    asyncio.run(middleware(scope, None, send))
    return sent[0]["status"]


def test_every_key_is_compared_whichever_matches(monkeypatch):
    middleware = ApiKeyMiddleware(_ok, keys=["first-key", "second", "a-much-longer-third-key"])
    compared = []
    real = hmac.compare_digest

    def counting(a, b):
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for key, status in (("first-key", 200), ("second", 200), ("nope", 401), ("first", 401)):
        compared.clear()
        assert status_for(middleware, f"Bearer {key}".encode()) == status
        assert len(compared) == 3, key                     # all keys, also after the first one matched
        assert {pair for pair in compared} == {(32, 32)}   # digests: no length leaks


def test_the_header_is_read_as_utf8():
    middleware = ApiKeyMiddleware(_ok, keys=["clé-secrète"])
    assert status_for(middleware, "Bearer clé-secrète".encode("utf-8")) == 200
    assert status_for(middleware, "Bearer clé-secrète".encode("latin-1")) == 401   # not UTF-8: no key
    assert status_for(middleware, b"Bearer \xff\xfe\xfd") == 401
