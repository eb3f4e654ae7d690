-- ordersByIds(ids: [20 random seeded orders]) { ...OrderStandard }.
--
-- Bodies: bench/scenarios.py, scenario "by_ids20_standard".
dofile("bench/wrk/common.lua")
