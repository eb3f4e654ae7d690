-- transitionOrder(input: {orderId, to: ACCEPTED}) { order { ...OrderSummary } errors }
-- on fresh PAID orders: each body is used once; run.py adds enough fresh orders before each run
-- and retries with more when "wrapped" is not 0.
--
-- Bodies: bench/scenarios.py, scenario "transition".
dofile("bench/wrk/common.lua")
