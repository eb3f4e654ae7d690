-- createOrder(input: {5 items, a coupon, fees}) { created order { ...OrderStandard } errors }
-- into the write-only stores, so read scenarios never see these orders.
--
-- Bodies: bench/scenarios.py, scenario "create".
dofile("bench/wrk/common.lua")
