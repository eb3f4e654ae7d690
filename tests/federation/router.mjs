// Composes order-graph's live subgraph SDL with the fixture `stores` subgraph, then serves the
// supergraph through @apollo/gateway on a free loopback port, forwarding each caller's
// Authorization header to the subgraphs.
//
//   ORDER_GRAPH_SUBGRAPH_URL  order-graph's subgraph endpoint, e.g. http://127.0.0.1:8000/subgraph
//   ORDER_GRAPH_API_KEY       a key to read its `_service { sdl }` with (auth is on)
//   FIXTURE_STORES            the stores subgraph's data: JSON [{"id", "name", "city"}]
//
// Prints one JSON line per step on stdout: {"composition": {"errors", "hints"}}, then
// {"router": url} once it serves. Exits 1 when composition fails.
import { composeServices } from "@apollo/composition";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { parse } from "graphql";

import { startStores, typeDefs as storesTypeDefs } from "./stores.mjs";

process.env.APOLLO_TELEMETRY_DISABLED = "true"; // the gateway reports usage to Apollo otherwise

const say = (message) => process.stdout.write(JSON.stringify(message) + "\n");

async function liveSdl(url, key) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: "{ _service { sdl } }" }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) {
    throw new Error(`_service from ${url}: ${response.status} ${JSON.stringify(body)}`);
  }
  return body.data._service.sdl;
}

const orderGraphUrl = process.env.ORDER_GRAPH_SUBGRAPH_URL;
const stores = await startStores(JSON.parse(process.env.FIXTURE_STORES));
const composed = composeServices([
  {
    name: "orders",
    url: orderGraphUrl,
    typeDefs: parse(await liveSdl(orderGraphUrl, process.env.ORDER_GRAPH_API_KEY)),
  },
  { name: "stores", url: stores.url, typeDefs: storesTypeDefs },
]);
const errors = (composed.errors ?? []).map(String);
const hints = (composed.hints ?? []).map(String);
for (const line of [...errors.map((e) => `error: ${e}`), ...hints.map((h) => `hint: ${h}`)]) {
  process.stderr.write(line + "\n");
}
say({ composition: { errors, hints } });
if (composed.errors) {
  await stores.stop();
  process.exit(1);
}

const gateway = new ApolloGateway({
  supergraphSdl: composed.supergraphSdl,
  buildService: ({ url }) =>
    new RemoteGraphQLDataSource({
      url,
      willSendRequest({ request, context }) {
        if (context.authorization) request.http.headers.set("authorization", context.authorization);
      },
    }),
});
const router = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(router, {
  listen: { host: "127.0.0.1", port: 0 },
  context: async ({ req }) => ({ authorization: req.headers.authorization }),
});
say({ router: url });

const stop = async () => {
  await router.stop();
  await stores.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
