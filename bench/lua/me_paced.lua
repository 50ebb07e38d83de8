-- wrk script: a modest, paced client of GET /api/me for the login flood. Each connection waits
-- BENCH_DELAY_MS (default 5) between requests, so this client measures latency instead of
-- competing with the logins for the server's core. Pass the token with -H.
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "5")

function delay()
   return pause
end
