"""``GET /v1/download/{name}``: the finished file a ``return_download_link`` speech request points at."""
import anyio
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ..core.exceptions import NotFound
from ..dependencies import DownloadStoreDep

router = APIRouter(prefix="/v1", tags=["Downloads"])
PATH_PREFIX = "/v1/download/"
_READ_SIZE = 256 * 1024


def download_path(request: Request, name: str) -> str:
    """The link to a download as this client reaches the app (under its root path, if any)."""
    return f"{request.scope.get('root_path', '')}{PATH_PREFIX}{name}"


# `:path` so that every name, separators and all, reaches the store's check and gets the same 404.
@router.get("/download/{name:path}", summary="Download a finished speech file (see return_download_link)",
            responses={200: {"content": {"audio/mpeg": {}}}, 404: {"description": "no such file (or not finished)"}})
async def download(name: str, store: DownloadStoreDep):
    opened = await anyio.to_thread.run_sync(store.open, name)   # file system calls: off the event loop
    if opened is None:
        raise NotFound("download not found: it is unfinished, expired or never existed",
                       param="name", code="download_not_found")
    file, size = opened

    def chunks():   # a plain generator: Starlette iterates it on a worker thread, off the event loop
        with file:
            while data := file.read(_READ_SIZE):
                yield data

    headers = {"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks(), media_type=store.media_type(name), headers=headers)
