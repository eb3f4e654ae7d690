-- Shared by the per-scenario scripts (loaded with dofile from the repository root).
--
-- bench/run.py writes a scenario's request bodies, one JSON document a line, to the file named
-- by $BENCH_BODIES. Each wrk thread takes every n-th line ($BENCH_THREADS threads) and sends
-- them in turn, pre-formatted once in init(). Read scenarios cycle through their bodies; write
-- scenarios whose bodies are single-use (a transition of a fresh order) count each wrap-around,
-- so run.py can tell when it ran out of fresh orders and must retry with more.
--
-- A response counts as bad unless it is a 200 whose body is a `data` document with no error
-- in it (`"errors":[{` also catches a mutation payload's errors). done() prints one line:
--   BENCH wrapped=<n> bad=<n>

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("BENCH_BODIES")
  local count = tonumber(os.getenv("BENCH_THREADS") or "1")
  assert(path, "BENCH_BODIES must name the file of request bodies")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  requests = {}
  local line_no = 0
  for line in io.lines(path) do
    if #line > 0 then
      if line_no % count == thread_index then
        requests[#requests + 1] = wrk.format("POST", "/graphql", nil, line)
      end
      line_no = line_no + 1
    end
  end
  assert(#requests > 0, "no request bodies for this thread in " .. path)
  next_request = 1
  wrapped = 0
  bad = 0
end

function request()
  local formatted = requests[next_request]
  next_request = next_request + 1
  if next_request > #requests then
    next_request = 1
    wrapped = wrapped + 1
  end
  return formatted
end

function response(status, headers, body)
  if status ~= 200 or string.sub(body, 1, 8) ~= '{"data":'
      or string.find(body, '"errors":[{', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_wrapped, total_bad = 0, 0
  for _, thread in ipairs(threads) do
    total_wrapped = total_wrapped + (thread:get("wrapped") or 0)
    total_bad = total_bad + (thread:get("bad") or 0)
  end
  io.write(string.format("BENCH wrapped=%d bad=%d\n", total_wrapped, total_bad))
end
