"""The NATS relay: publishes the event log to JetStream as skinny and fat messages.

Entry points: `order_graph.relay.main.main` (the process), `order_graph.relay.runner.run_relay`
(the coroutine) and `order_graph.relay.settings.RelaySettings`. Nothing is imported here, so
`order_graph.relay.state` (the table) can be imported on its own, without the schema.
"""
