-- wrk script: POST /auth/login with valid credentials, cycling through a pool of users
-- BENCH_EMAIL_PREFIX<i>@example.com for i in 0..BENCH_USERS-1, all with BENCH_PASSWORD.
-- Counts answers per status (see statuses.lua).
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
require("statuses")

local prefix = os.getenv("BENCH_EMAIL_PREFIX") or "bench-login-"
local users = tonumber(os.getenv("BENCH_USERS") or "1")
local password = os.getenv("BENCH_PASSWORD") or ""
local n = 0

function setup(thread)
   track_thread(thread)
end

function init(args)
   statuses = {}
   -- Threads start at different users so they do not all hit the same account at once.
   n = math.random(0, users - 1)
end

function request()
   n = n + 1
   local body = string.format('{"email":"%s%d@example.com","password":"%s"}', prefix, n % users, password)
   return wrk.format("POST", "/auth/login", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
   count_status(status)
end

function done(summary, latency, requests)
   print_counts()
end
