"""/v1/partners: the warehouses and carriers that report back through signed callbacks. Admin only."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.access import Admin
from api.deps import SessionDep
from api.limits import PageLimit
from api.partner_schemas import PartnerCreated, PartnerIn, PartnerOut, PartnerPage, RotateSecretIn
from api.problems import Problem, ProblemError, invalid, not_found
from domain.deliveries import PARTNER_ID_PATTERN, PartnerKind
from domain.orders import InvalidField
from store import catalog, partners
from store.tables import PartnerRow

router = APIRouter(prefix="/v1/partners", tags=["partners"])

PartnerPath = Annotated[str, Path(pattern=PARTNER_ID_PATTERN)]
RESPONSES: dict[int | str, dict[str, object]] = {404: {"model": Problem}}


def _out(row: PartnerRow) -> PartnerOut:
    return PartnerOut(
        partner_id=row.partner_id,
        name=row.name,
        kind=PartnerKind(row.kind),
        warehouses=list(row.warehouses or []),
        carrier=row.carrier,
        active=row.active,
        created_at=row.created_at,
        secret_rotated_at=row.secret_rotated_at,
        deactivated_at=row.deactivated_at,
    )


@router.post("", status_code=201, responses={409: {"model": Problem}, 422: {"model": Problem}})
async def create_partner(body: PartnerIn, _: Admin, session: SessionDep) -> PartnerCreated:
    """A new partner. The response carries the signing secret this once (generated unless given)."""
    invalid_fields: list[InvalidField] = []
    if body.kind is PartnerKind.WAREHOUSE:
        if not body.warehouses:
            invalid_fields.append(InvalidField("warehouses", "a warehouse partner speaks for at least one warehouse"))
        if body.carrier is not None:
            invalid_fields.append(InvalidField("carrier", "only for a carrier partner"))
        for i, code in enumerate(body.warehouses):
            if not await catalog.warehouse_exists(session, code):
                invalid_fields.append(InvalidField(f"warehouses[{i}]", f"warehouse {code} does not exist"))
    else:
        if body.carrier is None:
            invalid_fields.append(InvalidField("carrier", "a carrier partner speaks for one carrier"))
        if body.warehouses:
            invalid_fields.append(InvalidField("warehouses", "only for a warehouse partner"))
    if invalid_fields:
        raise invalid(invalid_fields)
    row = await partners.create(
        session, body.partner_id, body.name, body.kind, sorted(set(body.warehouses)), body.carrier, body.secret
    )
    if row is None:
        raise ProblemError(409, "Partner exists", f"partner {body.partner_id} exists already", [])
    return PartnerCreated(**_out(row).model_dump(), secret=row.secret)


@router.get("")
async def list_partners(
    _: Admin,
    session: SessionDep,
    limit: PageLimit,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PartnerPage:
    rows = await partners.page(session, cursor, limit + 1)
    return PartnerPage(
        items=[_out(r) for r in rows[:limit]], next_cursor=rows[limit - 1].partner_id if len(rows) > limit else None
    )


@router.get("/{partner_id}", responses=RESPONSES)
async def get_partner(partner_id: PartnerPath, _: Admin, session: SessionDep) -> PartnerOut:
    row = await partners.get(session, partner_id)
    if row is None:
        raise not_found(f"partner {partner_id}")
    return _out(row)


@router.post("/{partner_id}/rotate-secret", responses={**RESPONSES, 422: {"model": Problem}})
async def rotate_secret(
    partner_id: PartnerPath, _: Admin, session: SessionDep, body: RotateSecretIn | None = None
) -> PartnerCreated:
    """A new signing secret, shown this once. The old one stops verifying at once."""
    row = await partners.rotate(session, partner_id, body.secret if body else None)
    if row is None:
        raise not_found(f"partner {partner_id}")
    return PartnerCreated(**_out(row).model_dump(), secret=row.secret)


@router.post("/{partner_id}/deactivate", responses=RESPONSES)
async def deactivate_partner(partner_id: PartnerPath, _: Admin, session: SessionDep) -> PartnerOut:
    """Its callbacks are refused (401) from now on. Deactivating twice changes nothing."""
    row = await partners.deactivate(session, partner_id)
    if row is None:
        raise not_found(f"partner {partner_id}")
    return _out(row)
