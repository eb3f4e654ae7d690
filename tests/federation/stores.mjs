// The fixture `stores` subgraph: another team's service that owns Store.name and Store.city.
// It knows nothing about orders; the router joins them in from order-graph.
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import gql from "graphql-tag";

export const typeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    stores: [Store!]!
  }

  type Store @key(fields: "id") {
    id: ID!
    name: String!
    city: String!
  }
`;

/** Serves `stores` ([{id, name, city}]) on a free loopback port; resolves to its URL. */
export async function startStores(stores) {
  const byId = new Map(stores.map((store) => [store.id, store]));
  const resolvers = {
    Query: { stores: () => stores },
    Store: { __resolveReference: (reference) => byId.get(reference.id) ?? null },
  };
  const server = new ApolloServer({
    schema: buildSubgraphSchema({ typeDefs, resolvers }),
    plugins: [ApolloServerPluginInlineTraceDisabled()], // traces are for Apollo's cloud only
  });
  const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: 0 } });
  return { url, stop: () => server.stop() };
}
