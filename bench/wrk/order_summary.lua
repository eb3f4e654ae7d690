-- order(id) { ...OrderSummary } for a random seeded order.
--
-- Bodies: bench/scenarios.py, scenario "order_summary".
dofile("bench/wrk/common.lua")
