"""The Wyoming port announced on the LAN over mDNS (``_wyoming._tcp``), which Home Assistant discovers:
``announce`` (WYOMING_ZEROCONF=true, with the optional ``zeroconf`` extra installed).

The service is named ``kokoro-<host name>-<port>`` (two servers on one machine differ); its address is
HOST, or, when HOST is every interface (``0.0.0.0``, ``::``), the address this machine reaches the mDNS
group from. With WORKERS > 1 each worker tries: the first announces, the others find the name taken
and say so in the log.
"""
import socket
from typing import Any, Optional

from loguru import logger

SERVICE_TYPE = "_wyoming._tcp.local."
_MDNS_GROUP = "224.0.0.251"


class Announcement:
    """A registered service; ``withdraw`` unregisters it and closes the responder."""

    def __init__(self, responder: Any, info: Any):
        self.responder = responder
        self.info = info

    async def withdraw(self) -> None:
        try:
            await self.responder.async_unregister_service(self.info)
        finally:
            await self.responder.async_close()


def instance_name(port: int, hostname: Optional[str] = None) -> str:
    """``kokoro-<host name>-<port>``, within DNS-SD's 63 bytes for an instance name."""
    host = (hostname or socket.gethostname()).split(".")[0].encode()[:40].decode(errors="ignore")
    return f"kokoro-{host}-{port}"


def announced_address(host: str) -> Optional[str]:
    """The address to announce for a server bound to ``host``; None when none can be found."""
    if host not in ("", "0.0.0.0", "::"):
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((_MDNS_GROUP, 5353))   # a UDP connect sends nothing: it picks the route's address
            return str(probe.getsockname()[0])
        except OSError:
            return None


async def announce(host: str, port: int, name: Optional[str] = None) -> Optional[Announcement]:
    """Register ``<name>._wyoming._tcp.local.`` for ``port``; None (and a log line saying why) when the
    zeroconf package is missing, no address is found, or another process announces that name."""
    try:
        from zeroconf import NonUniqueNameException
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
    except ImportError:
        logger.warning("WYOMING_ZEROCONF=true, but the zeroconf package is not installed "
                       "(pip install 'kokoro-server[zeroconf]'): the Wyoming port is not announced")
        return None
    address = announced_address(host)
    if address is None:
        logger.warning("wyoming: no network address to announce over mDNS; set HOST to this machine's address")
        return None
    name = name or instance_name(port)
    info = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", port=port, parsed_addresses=[address],
                            server=f"{name}.local.")
    responder = AsyncZeroconf()
    try:
        await responder.async_register_service(info)
    except NonUniqueNameException:
        await responder.async_close()
        logger.info("wyoming: {} is already announced on the LAN (by another worker or server)", name)
        return None
    except Exception as exc:   # no multicast route, an interface that refuses it: serving goes on
        await responder.async_close()
        logger.warning("wyoming: announcing over mDNS failed: {}", exc)
        return None
    logger.info("wyoming: announced as {} at {}:{} (mDNS {})", name, address, port, SERVICE_TYPE)
    return Announcement(responder, info)
