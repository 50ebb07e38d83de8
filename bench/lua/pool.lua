-- wrk script: GET the URL with a different Bearer token on every request, cycling through the
-- tokens in BENCH_TOKEN_POOL (one per line). With more tokens than a verifier's cache holds,
-- every request pays for a full verification: the cache-miss path.
local tokens = {}
local i = 0

function init(args)
   for line in io.lines(os.getenv("BENCH_TOKEN_POOL")) do
      if #line > 0 then tokens[#tokens + 1] = line end
   end
   i = math.random(0, #tokens - 1)
end

function request()
   i = i % #tokens + 1
   return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
