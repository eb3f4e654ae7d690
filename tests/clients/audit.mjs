// The graphql-http package's audit of the GraphQL over HTTP spec, run against a real server.
// Every request carries ORDER_GRAPH_KEY, as a real client's would (authentication stays on).
// Prints one JSON line: {"results": [{id, name, status, reason}]}; the pytest side judges it.
import { serverAudits } from "graphql-http";

const url = process.env.ORDER_GRAPH_URL;
const key = process.env.ORDER_GRAPH_KEY;

function withKey(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = [];
for (const audit of serverAudits({ url, fetchFn: withKey })) {
  const result = await audit.fn();
  results.push({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.status === "ok" ? null : result.reason,
  });
}
console.log(JSON.stringify({ results }));
