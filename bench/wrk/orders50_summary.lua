-- orders(filter: {storeIds: [$store]}, first: 50, after: $after) { ...OrderSummary } edges:
-- a random store's newest page, or a page further down its history.
--
-- Bodies: bench/scenarios.py, scenario "orders50_summary".
dofile("bench/wrk/common.lua")
