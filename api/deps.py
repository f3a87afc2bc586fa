"""Dependencies shared by the routers. Each is `async def` although none awaits: FastAPI runs a plain
`def` dependency in a thread pool, a hand-over to another thread and back on every request (four of
them on POST /v1/orders; docs/performance.md)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.caches import ActiveProducts, Principals
from config import Settings
from egress import Egress
from rules.engine import ActiveRules
from store.db import ShortWork


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


async def get_short_work(request: Request) -> ShortWork:
    short_work: ShortWork = request.app.state.short_work
    return short_work


async def get_principals(request: Request) -> Principals:
    principals: Principals = request.app.state.principals
    return principals


async def get_active_products(request: Request) -> ActiveProducts:
    products: ActiveProducts = request.app.state.active_products
    return products


async def get_egress(request: Request) -> Egress:
    egress: Egress = request.app.state.egress
    return egress


async def get_active_rules(request: Request) -> ActiveRules:
    rules: ActiveRules = request.app.state.active_rules
    return rules


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with (await get_sessions(request)).begin() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
PrincipalsDep = Annotated[Principals, Depends(get_principals)]
ActiveProductsDep = Annotated[ActiveProducts, Depends(get_active_products)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
EgressDep = Annotated[Egress, Depends(get_egress)]
ActiveRulesDep = Annotated[ActiveRules, Depends(get_active_rules)]
ShortWorkDep = Annotated[ShortWork, Depends(get_short_work)]
# Committed before the response leaves: a 2xx means the write is there.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# Identifiers in paths are bounded like the columns they are looked up in.
OrderIdPath = Annotated[str, Path(min_length=1, max_length=100)]
IdPath = Annotated[str, Path(min_length=1, max_length=160)]
