// graphql-sse, for BFFs on platforms without websockets: subscriptions as server-sent events
// (its "distinct connections" mode), with the same auth, filters and resume.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "graphql-sse";
import {
  FULL_ORDER, SKINNY, createOrder, env, follow, move, newStore, onlyStoreUntil,
} from "./support.mjs";

function connect(key = env.key) {
  return createClient({ url: env.httpUrl, headers: { authorization: `Bearer ${key}` }, retryAttempts: 0 });
}

test("a subscription follows a store live, and resumes after the last cursor", async () => {
  const client = connect();
  try {
    const store = newStore();
    const order = await createOrder(store);
    const live = follow(client, SKINNY, { filter: { storeIds: [store] }, fromStart: true });
    const [created] = await live.take(1);
    await move(order.id, "PAID", 1);
    const [paid] = await live.take(1);
    await live.stop();
    await move(order.id, "ACCEPTED", 2);
    const resumed = follow(client, SKINNY, { filter: { storeIds: [store] }, after: paid.cursor });
    const [accepted] = await resumed.take(1);
    await resumed.stop();
    assert.deepEqual([created.version, paid.version, accepted.version], [1, 2, 3]);
  } finally {
    client.dispose();
  }
});

test("a store-bound key's stream carries its store only", async () => {
  await createOrder(newStore()); // another store's, logged just before: never delivered
  const mine = await createOrder(env.store);
  const client = connect(env.storeKey);
  try {
    const own = follow(client, SKINNY, { fromStart: true });
    await onlyStoreUntil(own, env.store, mine.id);
    await own.stop();
  } finally {
    client.dispose();
  }
});

test("a query over SSE answers once and completes", async () => {
  const order = await createOrder(newStore());
  const client = connect();
  try {
    const results = [];
    for await (const result of client.iterate({ query: FULL_ORDER, variables: { id: order.id } })) {
      results.push(result);
    }
    assert.equal(results.length, 1);
    assert.equal(results[0].data.order.id, order.id);
  } finally {
    client.dispose();
  }
});

test("a stream without a valid key is refused with 401", async () => {
  const client = connect("og_not-a-key");
  try {
    await assert.rejects(client.iterate({ query: SKINNY }).next(), /401/);
  } finally {
    client.dispose();
  }
});
