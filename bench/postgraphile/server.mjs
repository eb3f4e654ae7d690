// The benchmark's peer: PostGraphile 5 serving the bench database, what a team would pick
// instead of writing order-graph. bench/run.py starts it with this package's own Node 22:
//
//   node_modules/.bin/node server.mjs --database-url postgresql://... --port 8200
//
// The schema is PostGraphile's own, generated from the tables (the Amber preset, as its
// documentation starts a project); bench/peer.py holds the equivalent queries. With
// BENCH_API_KEY set, every POST /graphql must carry `Authorization: Bearer <that key>`,
// compared in constant time before the request reaches grafserv: the same cheap check the
// ceiling does, and what order-graph's cached key lookup costs per request.
import { timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const { values: args } = parseArgs({
  options: {
    "database-url": { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8200" },
    "pool-size": { type: "string", default: "20" },
  },
});
if (!args["database-url"]) {
  console.error("usage: server.mjs --database-url postgresql://... [--port 8200]");
  process.exit(2);
}

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: args["database-url"],
      schemas: ["public"],
      // bench/servers.py passes the ceiling's pool size.
      poolConfig: { max: Number(args["pool-size"]) },
    }),
  ],
  grafserv: { graphqlPath: "/graphql", graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const handle = serv.createHandler();

const key = process.env.BENCH_API_KEY;
const expected = key ? Buffer.from(`Bearer ${key}`) : null;

function authorised(req) {
  if (expected === null) return true;
  const given = Buffer.from(req.headers.authorization ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const server = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  if (!authorised(req)) {
    res.writeHead(401, { "Content-Type": "application/json" });
    res.end('{"errors":[{"message":"This API key is not valid (unknown or revoked)."}]}');
    return;
  }
  handle(req, res);
});

// Build the schema before answering /healthz, so a run never measures the introspection.
await pgl.getSchema();
server.listen(Number(args.port), args.host);

function stop() {
  server.close();
  pgl.release().finally(() => process.exit(0));
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
