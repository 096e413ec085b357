-- POST /oauth/token (client_credentials, private_key_jwt): one pre-signed client
-- assertion per request, each used once (the gateway refuses a replayed jti).
-- BENCH_ASSERTIONS names a file of form bodies, one per line; BENCH_SKIP says how
-- many earlier runs used up; the threads share the rest.
local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  bodies = {}
  local index = 0
  local count = tonumber(os.getenv("BENCH_THREADS"))
  local skip = tonumber(os.getenv("BENCH_SKIP") or "0")
  for line in io.lines(os.getenv("BENCH_ASSERTIONS")) do
    if index >= skip and (index - skip) % count == thread_id then
      bodies[#bodies + 1] = line
    end
    index = index + 1
  end
  next_body = 1
  wrk.method = "POST"
  wrk.path = "/oauth/token"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end
