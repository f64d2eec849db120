"""The request/response bridge between the Ray gateway and a replica, in one process (no Ray needed)."""
import asyncio

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from deploy.ray.bridge import read_request, run_asgi


def make_app(state: dict) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request):
        body = await request.body()
        return {"body": body.decode(), "query": request.url.query, "header": request.headers.get("x-test")}

    @app.get("/stream")
    async def stream(n: int = 3, fail_at: int = -1):
        async def pieces():
            try:
                for i in range(n):
                    if i == fail_at:
                        raise RuntimeError("boom")
                    yield f"piece{i};".encode()
                    await asyncio.sleep(0.01)
            finally:
                state["closed"] = True
        return StreamingResponse(pieces(), media_type="text/plain")

    return app


def forwarded(method: str, path: str, query: bytes = b"", body: bytes = b"", headers=(), root_path="") -> dict:
    chunks = [body[:3], body[3:]]

    async def receive():
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": list(headers),
             "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 80), "root_path": root_path}
    return asyncio.run(read_request(scope, receive))


async def collect(app, request, extra=()):
    return [m async for m in run_asgi(app, request, extra)]


def test_a_request_round_trips_with_body_query_headers_and_extra_header():
    request = forwarded("POST", "/echo", b"a=1", b'{"x": 1}', [(b"x-test", b"yes"), (b"content-type", b"text/plain")])
    messages = asyncio.run(collect(make_app({}), request, [(b"x-replica", b"r1")]))
    start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
    assert start["status"] == 200 and (b"x-replica", b"r1") in start["headers"]
    assert body == b'{"body":"{\\"x\\": 1}","query":"a=1","header":"yes"}'


def test_an_app_under_a_route_prefix_still_finds_its_routes():
    messages = asyncio.run(collect(make_app({}), forwarded("GET", "/tts/stream", b"n=1", root_path="/tts")))
    assert messages[0]["status"] == 200 and messages[1]["body"] == b"piece0;"


def test_a_client_that_left_before_its_body_arrived_is_dropped():
    async def receive():
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    assert asyncio.run(read_request(scope, receive)) is None


def test_streamed_bodies_arrive_piece_by_piece():
    messages = asyncio.run(collect(make_app({}), forwarded("GET", "/stream", b"n=3")))
    assert [m.get("body") for m in messages[1:] if m.get("body")] == [b"piece0;", b"piece1;", b"piece2;"]


def test_closing_the_stream_early_stops_the_app():
    state = {}
    request = forwarded("GET", "/stream", b"n=1000")

    async def scenario():
        stream = run_asgi(make_app(state), request)
        async for message in stream:
            if message.get("body"):
                break
        await stream.aclose()
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert state.get("closed")


def test_a_failure_mid_stream_propagates_instead_of_ending_cleanly():
    request = forwarded("GET", "/stream", b"n=5&fail_at=2")

    async def scenario():
        seen = []
        with pytest.raises(RuntimeError, match="boom"):
            async for message in run_asgi(make_app({}), request):
                seen.append(message)
        return seen

    seen = asyncio.run(scenario())
    assert [m.get("body") for m in seen[1:] if m.get("body")] == [b"piece0;", b"piece1;"]
    assert all(m.get("more_body", False) for m in seen[1:])
