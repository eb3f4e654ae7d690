// order-graph's GraphiQL page: HTTP for queries and mutations, a websocket for subscriptions,
// both on this page's own URL. The Headers tab goes with every request, and into the
// websocket's connection_init payload. No inline script, so a strict CSP can serve this page.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("order-graph-config").textContent);
  var http = new URL(window.location.pathname, window.location.href);
  var ws = new URL(http.href);
  ws.protocol = http.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: http.href, subscriptionUrl: ws.href });
  var root = document.getElementById("graphiql");
  document.body.style.margin = "0";
  root.style.height = "100vh";
  ReactDOM.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: [
        { query: config.document, variables: config.variables, headers: config.headers },
      ],
      // The editors of the first tab start from these, not from the tab itself.
      variables: config.variables,
      defaultHeaders: config.headers,
      defaultEditorToolsVisibility: "headers",
      shouldPersistHeaders: false,
    }),
    root,
  );
})();
