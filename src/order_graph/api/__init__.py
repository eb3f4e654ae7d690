"""The GraphQL API: strawberry types, resolvers, loaders and the request context."""
