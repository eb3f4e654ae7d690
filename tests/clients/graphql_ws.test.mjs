// The graphql-ws client (what GraphiQL, Apollo and most BFFs use for subscriptions), in Node,
// against a real server with authentication and compression on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import {
  CREATE, FAT, FULL_ORDER, SKINNY, createOrder, env, follow, move, newStore, onlyStoreUntil,
  orderInput, take, within,
} from "./support.mjs";

function connect(key = env.key) {
  return createClient({
    url: env.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
  });
}

async function once(client, query, variables) {
  const [result] = await take(client.iterate({ query, variables }), 1, "a result");
  assert.equal(result.errors, undefined, JSON.stringify(result.errors));
  return result.data;
}

test("a mutation and an OrderFull query run over the websocket", async () => {
  const client = connect();
  try {
    const created = await once(client, CREATE, { input: orderInput(newStore()) });
    const { order } = await once(client, FULL_ORDER, { id: created.createOrder.order.id });
    assert.equal(order.version, 1);
    assert.deepEqual(order.items.map((item) => item.skuId), ["latte", "bagel"]);
    assert.deepEqual(order.statusHistory.map((h) => h.toMainStatus), ["CREATED"]);
  } finally {
    await client.dispose();
  }
});

test("skinny events arrive live, and a resume delivers exactly what was missed", async () => {
  const store = newStore();
  const order = await createOrder(store);
  const client = connect();
  try {
    const live = follow(client, SKINNY, { filter: { storeIds: [store] }, fromStart: true });
    const [created] = await live.take(1); // replayed: the subscription is live
    await move(order.id, "PAID", 1);
    const [paid] = await live.take(1);
    await live.stop();
    assert.deepEqual([created.type, paid.type, paid.version], ["CREATED", "STATUS_CHANGED", 2]);

    await move(order.id, "ACCEPTED", 2); // while nobody listens
    await move(order.id, "FULFILLING", 3);
    const resumed = follow(client, SKINNY, { filter: { storeIds: [store] }, after: paid.cursor });
    const missed = await resumed.take(2);
    await resumed.stop();
    assert.deepEqual(missed.map((e) => e.mainStatus), ["ACCEPTED", "FULFILLING"]);
  } finally {
    await client.dispose();
  }
});

test("fat events carry the order in the OrderFull tier", async () => {
  const store = newStore();
  const order = await createOrder(store);
  await move(order.id, "PAID", 1);
  const client = connect();
  try {
    const fat = follow(client, FAT, { filter: { storeIds: [store] }, fromStart: true });
    const received = await fat.take(2);
    await fat.stop();
    assert.deepEqual(received.map((e) => e.version), [1, 2]);
    for (const event of received) {
      assert.equal(event.order.id, order.id);
      assert.equal(event.order.mainStatus, "PAID");
      assert.equal(event.order.statusHistory.length, 2);
    }
  } finally {
    await client.dispose();
  }
});

test("a key bound to one store follows that store's events only", async () => {
  await createOrder(newStore()); // another store's, logged just before: never delivered
  const mine = await createOrder(env.store);
  const client = connect(env.storeKey);
  try {
    const own = follow(client, SKINNY, { fromStart: true });
    await onlyStoreUntil(own, env.store, mine.id);
    await own.stop();
  } finally {
    await client.dispose();
  }
});

test("a connection without a valid key is closed with 4403", async () => {
  const client = connect("og_not-a-key");
  try {
    const refused = await within(
      client.iterate({ query: SKINNY }).next().then(
        () => null,
        (error) => error,
      ),
      "the refusal",
    );
    assert.equal(refused?.code, 4403, String(refused));
  } finally {
    await client.dispose();
  }
});
