// GraphiQL in a real browser (Debian's chromium, driven by playwright-core) with every request
// outside this machine blocked: it loads from the server alone, and a person can run an
// OrderFull query and a subscription through its UI with an API key in the Headers tab.
// Screenshots go to ORDER_GRAPH_OUTPUT.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { createOrder, env, move, newStore, post } from "./support.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
  // Belt and braces with the request routing below: no name resolves but this machine's.
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];
const FIRST_CURSOR = `query First($store: ID!) {
  orderEvents(filter: {storeIds: [$store]}, first: 1) { edges { cursor } }
}`;

/** Replaces the text of the visible editor under `selector` as a person pasting would. */
async function paste(page, selector, text) {
  await page.locator(`${selector} .CodeMirror`).first().click();
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(text);
}

async function run(page, operation) {
  await page.locator(".graphiql-execute-button").click();
  await page.getByRole("menuitem", { name: operation, exact: true }).click();
}

/** The result pane's JSON, once `holds` is true of it. */
async function result(page, holds, what) {
  const handle = await page.waitForFunction(
    (source) => {
      const editor = document.querySelector(".result-window .CodeMirror")?.CodeMirror;
      try {
        const value = JSON.parse(editor?.getValue() || "null");
        return new Function("value", `return (${source})(value)`)(value) ? value : null;
      } catch {
        return null;
      }
    },
    holds.toString(),
    { timeout: 15_000, polling: 100 },
  ).catch((error) => { throw new Error(`GraphiQL never showed ${what}: ${error.message}`); });
  return handle.jsonValue();
}

test("GraphiQL loads offline, runs an OrderFull query and a subscription", async () => {
  const store = newStore();
  const order = await createOrder(store);
  await move(order.id, "PAID", 1);
  const { orderEvents } = await post(FIRST_CURSOR, { store });
  const afterCreated = orderEvents.edges[0].cursor;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  const outside = [];
  const failures = [];
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === "127.0.0.1") return route.continue();
      outside.push(url.href);
      return route.abort();
    });
    page = await context.newPage();
    page.on("pageerror", (error) => failures.push(error.message));
    await page.goto(env.httpUrl);
    await page.locator(".graphiql-execute-button").waitFor({ timeout: 30_000 });

    await page.getByRole("button", { name: "Headers", exact: true }).click();
    await paste(page, ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
      JSON.stringify({ Authorization: `Bearer ${env.key}` }));
    await page.getByRole("button", { name: "Variables", exact: true }).click();
    await paste(page, ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
      JSON.stringify({ id: order.id, storeIds: [store], after: afterCreated }, null, 2));
    await page.getByRole("button", { name: "Re-fetch GraphQL schema" }).click();

    await run(page, "OrderDetail");
    const detail = await result(page, (v) => v?.data?.order?.statusHistory, "the OrderFull query");
    assert.equal(detail.data.order.id, order.id);
    assert.equal(detail.data.order.mainStatus, "PAID");
    assert.deepEqual(detail.data.order.statusHistory.map((h) => h.version), [1, 2]);
    await page.screenshot({ path: join(env.output, "graphiql-order-full.png") });

    await run(page, "FollowOrders");
    const resumed = await result(page, (v) => v?.data?.orderEvents, "the resumed event");
    assert.deepEqual([resumed.data.orderEvents.version, resumed.data.orderEvents.mainStatus], [2, "PAID"]);
    await move(order.id, "ACCEPTED", 2);
    const live = await result(page, (v) => v?.data?.orderEvents?.version === 3, "the live event");
    assert.equal(live.data.orderEvents.order.mainStatus, "ACCEPTED");
    await page.screenshot({ path: join(env.output, "graphiql-subscription.png") });
    await page.locator(".graphiql-execute-button").click(); // stops the subscription
  } catch (error) {
    await page?.screenshot({ path: join(env.output, "graphiql-failure.png") });
    throw error;
  } finally {
    await browser.close();
  }
  assert.deepEqual(outside, [], "GraphiQL reached outside this machine");
  assert.deepEqual(failures, [], "the page threw");
});
