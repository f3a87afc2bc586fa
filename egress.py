"""Outbound HTTP that only reaches addresses the deployment allows (domain/egress.py says which).

A URL is checked twice: when it is given (a webhook subscription, a WMS/TMS/ERP setting) and at every
connection. The second check is the one that holds: the name is resolved here, every address it
resolves to is judged, and the connection goes to an address that was judged, so a name that later
resolves to a forbidden address (DNS rebinding) is caught between check and use. TLS still verifies
the certificate for the name in the URL. Redirects are never followed, so none can lead to a forbidden
address, and proxy settings of the environment are ignored (a proxy would connect on our behalf).
"""

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from config import Settings
from domain.egress import Address, EgressRule, parse_address

Resolver = Callable[[str, int], Awaitable[list[Address]]]


class EgressRefused(Exception):
    """The target resolves to an address the deployment may not send to. Not a network error: retrying
    will not help; a person must change the URL or the allow-list."""


async def system_resolve(host: str, port: int) -> list[Address]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = parse_address(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    return found


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the rule between name resolution and connect."""

    def __init__(self, rule: EgressRule, resolve: Resolver) -> None:
        self._rule = rule
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = parse_address(host)
        try:
            addresses = [literal] if literal is not None else await self._resolve(host, port)
        except OSError as err:
            raise httpcore.ConnectError(f"cannot resolve {host}: {err}") from err
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        reason = self._rule.refusal_of_any(addresses)
        if reason is not None:
            raise EgressRefused(f"{host}: {reason}")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                last = err
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("unix sockets are not webhook or partner targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class Egress:
    """The deployment's outbound rule, with the resolver it trusts (the system's unless a test names one)."""

    def __init__(self, rule: EgressRule, resolve: Resolver = system_resolve) -> None:
        self.rule = rule
        self._resolve = resolve

    @classmethod
    def from_settings(cls, settings: Settings) -> "Egress":
        return cls(settings.egress_rule)

    async def check_url(self, url: str) -> str | None:
        """Why `url` may not be a target; None when it may. A name that does not resolve now is let
        through: it is judged again at every connection."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        literal = parse_address(host)
        if literal is not None:
            return self.rule.refusal(literal)
        try:
            addresses = await self._resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except OSError:
            return None
        reason = self.rule.refusal_of_any(addresses)
        return f"{host} resolves to {reason}" if reason else None

    def transport(self) -> httpx.AsyncHTTPTransport:
        transport = httpx.AsyncHTTPTransport()
        # httpx takes no network backend of its own; its pool (the same defaults) is swapped for one that
        # connects through the guard.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_GuardedBackend(self.rule, self._resolve)
        )
        return transport

    def client(self, timeout: httpx.Timeout | float) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport(), timeout=timeout, follow_redirects=False, trust_env=False)
