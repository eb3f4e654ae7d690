"""Demo data: a few stores, a realistic menu, orders in every status with sub-statuses, and
some accepted orders with an item cancelled (out of stock) and refunded."""

from __future__ import annotations

import random
from decimal import Decimal

from sqlalchemy import func, select

from order_graph.domain.access import Principal
from order_graph.domain.changes import CancelItems, LineQuantity
from order_graph.domain.model import (
    Channel,
    CreateOrder,
    DiscountInput,
    DiscountKind,
    FulfillmentType,
    ItemInput,
    OrderRecord,
)
from order_graph.domain.money import from_minor
from order_graph.domain.status import MainStatus
from order_graph.service import OrderService
from order_graph.storage import migrate
from order_graph.storage.database import Database
from order_graph.storage.orders import items_by_order
from order_graph.storage.tables import orders

STORES = ["sh-jingan-001", "sh-xuhui-002", "bj-chaoyang-003", "gz-tianhe-004", "sz-nanshan-005"]
MENU = [
    ("latte-m", "Latte (M)", "28.00"),
    ("americano-l", "Americano (L)", "26.00"),
    ("flat-white", "Flat White", "32.00"),
    ("matcha-latte", "Matcha Latte", "30.00"),
    ("croissant", "Butter Croissant", "18.50"),
    ("bagel-salmon", "Smoked Salmon Bagel", "42.00"),
    ("cheesecake", "Basque Cheesecake", "36.00"),
    ("sandwich-chicken", "Chicken Sandwich", "38.00"),
]
SUB_STATUSES = {
    MainStatus.PAID: [("WAITING_POS_ACK", "Sent to the store's POS, not yet acknowledged")],
    MainStatus.ACCEPTED: [
        ("PREPARING", "The kitchen is making it"),
        ("READY_FOR_PICKUP", "Waiting at the counter or for the rider"),
    ],
    MainStatus.FULFILLING: [
        ("RIDER_ASSIGNED", "A delivery rider took the order"),
        ("OUT_FOR_DELIVERY", "On its way"),
    ],
}
PATHS = [
    [],
    [MainStatus.PAID],
    [MainStatus.PAID, MainStatus.ACCEPTED],
    [MainStatus.PAID, MainStatus.ACCEPTED, MainStatus.FULFILLING],
    [MainStatus.PAID, MainStatus.ACCEPTED, MainStatus.FULFILLING, MainStatus.COMPLETED],
    [MainStatus.CANCELLED],
    [MainStatus.PAID, MainStatus.CANCELLED],
]


def _command(rng: random.Random, n: int) -> CreateOrder:
    channel = rng.choice(list(Channel))
    picks = rng.sample(MENU, rng.randint(1, 5))
    items = tuple(
        ItemInput(sku, name, rng.randint(1, 3), Decimal(price), {"temperature": "hot"})
        for sku, name, price in picks
    )
    delivery = channel in (Channel.DELIVERY_PLATFORM, Channel.APP) and rng.random() < 0.7
    discounts = (DiscountInput(DiscountKind.COUPON, Decimal("5.00"), "WELCOME5", "New customer"),)
    platform = channel is Channel.DELIVERY_PLATFORM
    return CreateOrder(
        store_id=rng.choice(STORES),
        channel=channel,
        fulfillment_type=FulfillmentType.DELIVERY if delivery else FulfillmentType.PICKUP,
        currency="CNY",
        items=items,
        external_platform="meituan" if platform else None,
        external_order_id=f"MT{100000 + n}" if platform else None,
        customer_id=f"cust-{rng.randint(1, 500):04d}",
        discounts=discounts if rng.random() < 0.4 else (),
        delivery_fee=Decimal("6.00") if delivery else None,
        packaging_fee=Decimal("2.00"),
        initial_status=MainStatus.PAID if platform else MainStatus.CREATED,
        remark=rng.choice([None, "Less ice", "No sugar", "Please call on arrival"]),
        attributes={"source": "demo"},
    )


async def seed_demo(db: Database, count: int, if_empty: bool = False) -> int:
    if db.is_sqlite:
        await migrate.upgrade(db)
    async with db.read() as conn:
        existing = (await conn.execute(select(func.count()).select_from(orders))).scalar_one()
    if if_empty and existing:
        return 0
    service = OrderService(db)
    demo = Principal.trusted("demo")
    for status, codes in SUB_STATUSES.items():
        for code, description in codes:
            await service.define_sub_status(demo, status, code, description)
    rng = random.Random(42)
    for n in range(count):
        await _one_order(service, demo, rng, existing + n)
    return count


async def _one_order(service: OrderService, demo: Principal, rng: random.Random, n: int) -> None:
    command = _command(rng, n)
    order, _ = await service.create_order(demo, command, None)
    path = rng.choice(PATHS)
    if order.main_status is MainStatus.PAID and path and path[0] is MainStatus.PAID:
        path = path[1:]
    for target in path:
        subs = SUB_STATUSES.get(target)
        sub = rng.choice(subs)[0] if subs else None
        order = await service.transition(demo, order.id, target, sub, None, order.version, None)
    if order.main_status is MainStatus.ACCEPTED and rng.random() < 0.3:
        await _out_of_stock(service, demo, order)


async def _out_of_stock(service: OrderService, demo: Principal, order: OrderRecord) -> None:
    """One unit of the first line ran out after payment: cancelled, its price refunded."""
    async with service.db.read() as conn:
        first = (await items_by_order(conn, [order.id]))[order.id][0]
    refund = from_minor(min(first.unit_price, order.payable_total), order.currency)
    command = CancelItems((LineQuantity(first.id, 1),), "Out of stock", refund)
    await service.cancel_items(demo, order.id, command, order.version, None)
