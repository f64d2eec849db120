"""Keys in URLs never reach the log: uvicorn logs a WebSocket's path with its query string, where a
browser's API key travels (``?api_key=``, see ``api_keys``)."""
import logging
import re

_KEY_IN_URL = re.compile(r"(?i)(\bapi_key=)[^&\s\"']*")


def redact(text: str) -> str:
    return _KEY_IN_URL.sub(r"\1***", text)


class RedactKeys(logging.Filter):
    """Rewrites a record's message with every ``api_key=`` value replaced by ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "api_key=" in message.lower():
            record.msg, record.args = redact(message), None
        return True


def install_key_redaction() -> None:
    """On uvicorn's loggers (its access lines and its WebSocket lines), once per process."""
    for name in ("uvicorn.error", "uvicorn.access"):
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in log.filters):
            log.addFilter(RedactKeys())
