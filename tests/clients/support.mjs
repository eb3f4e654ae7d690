// What every client test shares: where the server is, its keys, and the documents a client
// team would write. The server, its database and its keys come from pytest
// (tests/clients/test_node_clients.py), which runs each *.test.mjs file with `node --test`.
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";

export const env = {
  httpUrl: process.env.ORDER_GRAPH_URL,
  wsUrl: process.env.ORDER_GRAPH_WS_URL,
  key: process.env.ORDER_GRAPH_KEY, // a BFF's: every store, reads, writes and events
  store: process.env.ORDER_GRAPH_STORE,
  storeKey: process.env.ORDER_GRAPH_STORE_KEY, // a POS's: `store` only
  output: process.env.ORDER_GRAPH_OUTPUT,
};

export const FRAGMENTS = readFileSync(new URL("../../fragments.graphql", import.meta.url), "utf8");

export const FULL_ORDER = `${FRAGMENTS}
query OrderDetail($id: ID!) { order(id: $id) { ...OrderFull } }`;

export const CREATE = `mutation Create($input: CreateOrderInput!) {
  createOrder(input: $input) { order { id version storeId mainStatus } errors { code message } }
}`;

export const MOVE = `mutation Move($input: TransitionOrderInput!) {
  transitionOrder(input: $input) {
    order { id version mainStatus } errors { code message currentVersion }
  }
}`;

export const SKINNY = `subscription Follow($filter: OrderEventFilter, $after: String, $fromStart: Boolean) {
  orderEvents(filter: $filter, after: $after, fromStart: $fromStart) {
    cursor type orderId storeId version mainStatus previousMainStatus
  }
}`;

export const FAT = `${FRAGMENTS}
subscription FollowFat($filter: OrderEventFilter, $fromStart: Boolean) {
  orderEvents(filter: $filter, fromStart: $fromStart) { cursor type version order { ...OrderFull } }
}`;

export function newStore() {
  return `store-${randomUUID().slice(0, 10)}`;
}

export function orderInput(storeId) {
  return {
    storeId,
    channel: "MINI_PROGRAM",
    fulfillmentType: "PICKUP",
    currency: "CNY",
    items: [
      { skuId: "latte", name: "Latte", quantity: 2, unitPrice: "28.00" },
      { skuId: "bagel", name: "Bagel", quantity: 1, unitPrice: "18.50" },
    ],
  };
}

/** A plain POST, for setting the scene; the clients under test make their own requests. */
export async function post(query, variables, key = env.key) {
  const response = await fetch(env.httpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

export async function createOrder(storeId) {
  const { createOrder } = await post(CREATE, { input: orderInput(storeId) });
  if (createOrder.errors.length) throw new Error(JSON.stringify(createOrder.errors));
  return createOrder.order;
}

export async function move(orderId, to, expectedVersion) {
  const { transitionOrder } = await post(MOVE, { input: { orderId, to, expectedVersion } });
  if (transitionOrder.errors.length) throw new Error(JSON.stringify(transitionOrder.errors));
  return transitionOrder.order;
}

/** Rejects after `ms` milliseconds with `what` in the message. */
export function within(promise, what, ms = 10_000) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The next `count` values of an async iterator, each within the deadline. */
export async function take(iterator, count, what) {
  const values = [];
  while (values.length < count) {
    const { value, done } = await within(iterator.next(), what);
    if (done) throw new Error(`${what}: ended after ${values.length} of ${count}`);
    values.push(value);
  }
  return values;
}

/** A subscription of a client with `iterate()` (graphql-ws, graphql-sse), event by event. */
export function follow(client, query, variables) {
  const results = client.iterate({ query, variables });
  return {
    async take(count) {
      const values = await take(results, count, `${count} events`);
      return values.map((result) => {
        if (result.errors) throw new Error(JSON.stringify(result.errors));
        return result.data.orderEvents;
      });
    },
    stop: () => results.return(),
  };
}

/** Takes a subscription's events up to `orderId`'s, failing on an event of another store. */
export async function onlyStoreUntil(subscription, storeId, orderId) {
  for (;;) {
    const [event] = await subscription.take(1);
    if (event.storeId !== storeId) throw new Error(`another store's event: ${JSON.stringify(event)}`);
    if (event.orderId === orderId) return;
  }
}
