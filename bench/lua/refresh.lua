-- wrk script: refresh-token rotation. Run with as many threads as connections (-t N -c N) so
-- each thread owns exactly one connection and one session: it posts its current refresh token
-- and keeps the new one from the answer, as a real client must (reusing an old token after the
-- grace window revokes the session). Tokens come one per line from BENCH_REFRESH_TOKENS.
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
require("statuses")

local tokens = nil
local assigned = 0

function setup(thread)
   if tokens == nil then
      tokens = {}
      for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
         if #line > 0 then table.insert(tokens, line) end
      end
   end
   assigned = assigned + 1
   if assigned > #tokens then
      error("more wrk threads than refresh tokens")
   end
   thread:set("token", tokens[assigned])
   track_thread(thread)
end

function init(args)
   statuses = {}
   missing_token = 0
end

function request()
   return wrk.format("POST", "/auth/refresh", { ["Content-Type"] = "application/json" },
      '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
   count_status(status)
   if status >= 200 and status < 300 then
      local new = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
      if new then token = new else missing_token = missing_token + 1 end
   end
end

function done(summary, latency, requests)
   print_counts({ "missing_token" })
end
