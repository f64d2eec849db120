"""A work request served while its client is watched: one that leaves or stops reading ends the work.

``serve_watched`` runs the app for one request whose body was already read, beside a watcher that
waits for the client's disconnect. The work is cancelled (so its job closes: queued chunks dropped,
its place in admission and its model lease given back) when

- the client disconnects before the response is complete (``"gone"``): a ``stream: false`` request
  stops synthesizing then, as a streamed one does; or
- one ``send`` of the response does not complete within ``send_timeout_s`` (``"cut"``): the client
  stopped reading and the socket buffers are full. The send is abandoned and the app returns with the
  response incomplete, so the server closes the connection (it sends what it already buffered first,
  as TCP does; nothing of the app waits on it any more).

Returns ``"ok"``, ``"gone"`` or ``"cut"``; a cut's reason is left in the scope's ``CutNote`` (``http.cuts``),
which the response reads for the request's log line.
"""
import anyio
import anyio.lowlevel

from .cuts import SCOPE_KEY, CutNote


async def serve_watched(app, scope, app_receive, client_receive, send, send_timeout_s: float) -> str:
    """Run ``app`` on ``app_receive`` and a bounded ``send``; ``client_receive`` is the client's own
    receive after its body (what comes next is its disconnect). See the module docstring. A failure of
    the app is raised as itself (not wrapped in an exception group), so its handlers and log filters see it."""
    scope[SCOPE_KEY] = CutNote()   # a cut's reason, for the request's log line
    try:
        return await _serve(app, scope, app_receive, client_receive, send, send_timeout_s)
    except BaseExceptionGroup as failures:   # the task group's wrapper: the app's own failure goes on alone
        if len(failures.exceptions) == 1:
            raise failures.exceptions[0] from None
        raise


async def _serve(app, scope, app_receive, client_receive, send, send_timeout_s: float) -> str:
    outcome = "ok"
    complete = False

    async with anyio.create_task_group() as group:
        async def watch() -> None:
            nonlocal outcome
            while (await client_receive())["type"] != "http.disconnect":
                pass
            if not complete:
                outcome = "gone"
                group.cancel_scope.cancel()

        async def bounded_send(message) -> None:
            nonlocal outcome, complete
            with anyio.move_on_after(send_timeout_s) as deadline:
                await send(message)
            if deadline.cancelled_caught:
                outcome = "cut"
                note = CutNote.of(scope)
                if note is not None:
                    note.why = f"the client took no audio for {send_timeout_s:g} s (SLOW_READER_TIMEOUT_S)"
                group.cancel_scope.cancel()
                await anyio.lowlevel.checkpoint()   # the cancellation ends the app here
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True

        group.start_soon(watch)
        await app(scope, app_receive, bounded_send)
        group.cancel_scope.cancel()   # the response is done: stop watching
    return outcome
