-- orders(filter: {storeIds: [$store]}, first: 50, after: $after) { ...OrderFull } edges:
-- a random store's newest page, or a page further down its history.
--
-- Bodies: bench/scenarios.py, scenario "orders50_full".
dofile("bench/wrk/common.lua")
