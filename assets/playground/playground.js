// Starts GraphiQL on the playground page. It lives in a served file, not inline in the page, so
// the page's Content-Security-Policy can allow scripts from the server only ('self').
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var endpoint = new URL(root.dataset.endpoint, window.location.href);
  var subscriptions = new URL(root.dataset.subscriptions, window.location.href);
  subscriptions.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: subscriptions.href,
  });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      // A hint for the API token: every tenant query needs `Authorization: Bearer ssk_…`.
      defaultHeaders: JSON.stringify({ Authorization: 'Bearer ' }, null, 2),
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: 'headers',
      // Tokens stay out of localStorage unless the user opts in with GraphiQL's settings.
      shouldPersistHeaders: false,
      defaultQuery: '{\n  viewer {\n    name\n    tenants { role tenant { slug name } }\n  }\n}\n',
    }),
  );
})();
