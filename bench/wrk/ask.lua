-- POST /v1/queries with a fresh Idempotency-Key per request (wrk, LuaJIT).
-- BENCH_TOKEN, BENCH_RUN and BENCH_BODIES (a file of JSON bodies, one per line,
-- one per person; requests cycle through them) come from the environment.
local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  counter = 0
  run = os.getenv("BENCH_RUN")
  bodies = {}
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    bodies[#bodies + 1] = line
  end
  wrk.method = "POST"
  wrk.path = "/v1/queries"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = run .. "-" .. thread_id .. "-" .. counter
  return wrk.format(nil, nil, nil, bodies[counter % #bodies + 1])
end
