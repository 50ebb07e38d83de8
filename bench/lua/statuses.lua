-- Shared by the wrk scripts of bench/run: count answers per HTTP status in every thread and
-- print them at the end as "STATUS <code> <count>" lines (bench/helper.py parses them), plus
-- any extra per-thread counters as "LUA <name> <count>".
-- wrk runs setup() and done() in the main Lua state and request()/response() in one Lua
-- state per thread, so per-thread globals are collected with thread:get().

local threads = {}

function track_thread(thread)
   table.insert(threads, thread)
end

function count_status(status)
   statuses[status] = (statuses[status] or 0) + 1
end

function print_counts(extra_counters)
   local total = {}
   local extra = {}
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      if s then
         for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
      end
      for _, name in ipairs(extra_counters or {}) do
         extra[name] = (extra[name] or 0) + (thread:get(name) or 0)
      end
   end
   for code, n in pairs(total) do io.write(string.format("STATUS %d %d\n", code, n)) end
   for name, n in pairs(extra) do io.write(string.format("LUA %s %d\n", name, n)) end
end
