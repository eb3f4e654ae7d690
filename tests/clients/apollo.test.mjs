// Apollo Client 4, as a BFF or web app sets it up: HttpLink for queries and mutations,
// GraphQLWsLink for subscriptions (or HttpLink alone, with multipart subscriptions), and the
// persisted-query link. Against a real server with authentication on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { CombinedGraphQLErrors } from "@apollo/client/errors";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import {
  CREATE, FULL_ORDER, MOVE, SKINNY, createOrder, env, move, newStore, onlyStoreUntil,
  orderInput, take,
} from "./support.mjs";

/** Every request an HttpLink makes, with the answer's status and media type. */
function recording() {
  const seen = [];
  async function recordingFetch(url, init) {
    const response = await fetch(url, init);
    seen.push({ body: JSON.parse(init.body), status: response.status,
      type: response.headers.get("content-type") });
    return response;
  }
  return { seen, fetch: recordingFetch };
}

function httpLink(key = env.key, fetchFn = fetch) {
  return new HttpLink({ uri: env.httpUrl, headers: { authorization: `Bearer ${key}` }, fetch: fetchFn });
}

function apollo(link) {
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

function isSubscription({ query }) {
  const definition = getMainDefinition(query);
  return definition.kind === "OperationDefinition" && definition.operation === "subscription";
}

/** An Apollo subscription's events, pulled one at a time. */
function events(client, query, variables) {
  const queue = [];
  const waiting = [];
  const push = (item) => (waiting.length ? waiting.shift()(item) : queue.push(item));
  const subscription = client.subscribe({ query: gql(query), variables }).subscribe({
    next: (result) => push({ value: result }),
    error: (error) => push({ error }),
  });
  const iterator = {
    next: () => new Promise((resolve) => (queue.length ? resolve(queue.shift()) : waiting.push(resolve)))
      .then(({ value, error }) => {
        if (error) throw error;
        if (value.error) throw value.error;
        return { value: value.data.orderEvents, done: false };
      }),
  };
  return { take: (count) => take(iterator, count, `${count} events`), stop: () => subscription.unsubscribe() };
}

test("HttpLink: an OrderFull query and a mutation, as application/graphql-response+json", async () => {
  const { seen, fetch: recordingFetch } = recording();
  const client = apollo(httpLink(env.key, recordingFetch));
  const created = await client.mutate({ mutation: gql(CREATE), variables: { input: orderInput(newStore()) } });
  const { id } = created.data.createOrder.order;
  const stale = await client.mutate({
    mutation: gql(MOVE), variables: { input: { orderId: id, to: "PAID", expectedVersion: 7 } },
  });
  const { data } = await client.query({ query: gql(FULL_ORDER), variables: { id }, fetchPolicy: "no-cache" });

  assert.equal(data.order.id, id);
  assert.deepEqual(data.order.statusHistory.map((h) => h.toMainStatus), ["CREATED"]);
  assert.deepEqual(stale.data.transitionOrder.errors.map((e) => e.code), ["VERSION_CONFLICT"]);
  assert.deepEqual(seen.map((r) => [r.status, r.type]), Array(3).fill([200, "application/graphql-response+json"]));
});

test("HttpLink: a request error is a GraphQL error with a 400, not a network failure", async () => {
  const { seen, fetch: recordingFetch } = recording();
  const client = apollo(httpLink(env.key, recordingFetch));
  await assert.rejects(
    client.query({ query: gql("query Broken { orders { nope } }"), fetchPolicy: "no-cache" }),
    (error) => CombinedGraphQLErrors.is(error) && /nope/.test(error.errors[0].message),
  );
  assert.equal(seen[0].status, 400);
});

test("HttpLink: a call without a key is told how to authenticate", async () => {
  const client = apollo(new HttpLink({ uri: env.httpUrl }));
  await assert.rejects(
    client.query({ query: gql("query Anyone { __typename }"), fetchPolicy: "no-cache" }),
    (error) => CombinedGraphQLErrors.is(error) && error.errors[0].extensions.code === "UNAUTHENTICATED",
  );
});

test("GraphQLWsLink: a subscription follows a store live, and resumes after a cursor", async () => {
  const ws = createClient({
    url: env.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${env.key}` },
  });
  const client = apollo(ApolloLink.split(isSubscription, new GraphQLWsLink(ws), httpLink()));
  try {
    const store = newStore();
    const order = await createOrder(store);
    const live = events(client, SKINNY, { filter: { storeIds: [store] }, fromStart: true });
    const [created] = await live.take(1);
    await move(order.id, "PAID", 1);
    const [paid] = await live.take(1);
    live.stop();
    await move(order.id, "ACCEPTED", 2);
    const resumed = events(client, SKINNY, { filter: { storeIds: [store] }, after: paid.cursor });
    const [accepted] = await resumed.take(1);
    resumed.stop();
    assert.deepEqual([created.version, paid.version, accepted.version], [1, 2, 3]);
  } finally {
    await ws.dispose(); // ends every subscription on it
  }
});

test("HttpLink alone: multipart subscriptions, with the same auth, filters and resume", async () => {
  const client = apollo(httpLink());
  const store = newStore();
  const order = await createOrder(store);
  const live = events(client, SKINNY, { filter: { storeIds: [store] }, fromStart: true });
  let paid;
  try {
    const [created] = await live.take(1);
    assert.equal(created.type, "CREATED");
    await move(order.id, "PAID", 1);
    [paid] = await live.take(1);
    assert.equal(paid.mainStatus, "PAID");
  } finally {
    live.stop();
  }
  await move(order.id, "ACCEPTED", 2);
  const resumed = events(client, SKINNY, { filter: { storeIds: [store] }, after: paid.cursor });
  try {
    const [accepted] = await resumed.take(1);
    assert.equal(accepted.mainStatus, "ACCEPTED");
  } finally {
    resumed.stop();
  }
});

test("HttpLink alone: a store-bound key's multipart subscription sees its store only", async () => {
  await createOrder(newStore()); // another store's, logged just before: never delivered
  const mine = await createOrder(env.store);
  const own = events(apollo(httpLink(env.storeKey)), SKINNY, { fromStart: true });
  try {
    await onlyStoreUntil(own, env.store, mine.id);
  } finally {
    own.stop();
  }
});

test("PersistedQueryLink: hashes, the query once when asked for it, then hashes again", async () => {
  const { seen, fetch: recordingFetch } = recording();
  const sha256 = (text) => createHash("sha256").update(text).digest("hex");
  const link = new PersistedQueryLink({ sha256 }).concat(httpLink(env.key, recordingFetch));
  const client = apollo(link);
  const order = await createOrder(newStore());
  // A name of this run's own: the server must not know the query yet.
  const name = `PersistedCard_${randomUUID().replaceAll("-", "")}`;
  const query = gql(`query ${name}($id: ID!) { order(id: $id) { id version storeId } }`);
  const first = await client.query({ query, variables: { id: order.id }, fetchPolicy: "no-cache" });
  const again = await client.query({ query, variables: { id: order.id }, fetchPolicy: "no-cache" });

  assert.equal(first.data.order.id, order.id);
  assert.equal(again.data.order.id, order.id);
  assert.deepEqual(seen.map((r) => "query" in r.body), [false, true, false]);
  assert.ok(seen.every((r) => r.body.extensions.persistedQuery.sha256Hash.length === 64));
});
