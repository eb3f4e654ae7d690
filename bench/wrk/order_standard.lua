-- order(id) { ...OrderStandard } for a random seeded order.
--
-- Bodies: bench/scenarios.py, scenario "order_standard".
dofile("bench/wrk/common.lua")
