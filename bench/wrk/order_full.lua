-- order(id) { ...OrderFull } for a random seeded order.
--
-- Bodies: bench/scenarios.py, scenario "order_full".
dofile("bench/wrk/common.lua")
