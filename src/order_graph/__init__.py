"""order-graph: a shared order service with a GraphQL API."""
