"""Operating the service: optional integrations for the people who run it."""
