"""Where webhooks may send: public addresses only, unless the server allows private ones.

A webhook URL is chosen by an account's administrator, and its deliveries' outcomes are visible to the account's
members: sending to loopback, link-local (cloud metadata) or private addresses would let them probe the network the
server sits in. The check runs on the addresses a name resolves to, at connect time, so DNS rebinding cannot dodge it.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

ALLOW_FLAG = "--webhook-allow-private"


class PrivateAddress(OSError):
    """A webhook host resolves only to addresses the server does not send to."""


def is_public(address: str) -> bool:
    """Whether `address` (an IP literal) is globally routable unicast."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def refusal(host: str) -> str:
    return (
        f"{host} is not a public address: webhooks are sent to public addresses only"
        f" (start the server with {ALLOW_FLAG} to allow private ones)"
    )


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's threaded resolver, then keeps only public addresses."""

    def __init__(self) -> None:
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        public = [result for result in found if is_public(result["host"])]
        if not public:
            raise PrivateAddress(refusal(host))
        return public

    async def close(self) -> None:
        await self._resolver.close()


def connector_options(allow_private: bool) -> dict[str, Any]:
    """Keyword arguments for the deliverer's `aiohttp.TCPConnector`."""
    return {} if allow_private else {"resolver": PublicOnlyResolver()}
