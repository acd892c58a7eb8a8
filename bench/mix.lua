-- wrk script for bench/gen.sh: keep-alive GETs over a fixed mix of body sizes.
--   wrk ... -s bench/mix.lua URL -- SMALL MEDIUM LARGE [LIMIT]
-- SMALL, MEDIUM, LARGE: weights (per mille) of /s.txt (100 B), /m.txt (10 KB), /l.bin (100 KB).
-- LIMIT: wrk exits after this many responses (with -t 1) (0 or absent: run for wrk's -d), so a
-- round sends a fixed number of requests however fast the machine is.
-- The requests are formatted once per thread and cycled through a shuffled deck with a fixed
-- seed, so every run sends the same sequence.

local deck, pos, limit, seen = {}, 0, 0, 0

function init(args)
   local w = { tonumber(args[1]) or 920, tonumber(args[2]) or 70, tonumber(args[3]) or 10 }
   local paths = { "/s.txt", "/m.txt", "/l.bin" }
   for i, n in ipairs(w) do
      local req = wrk.format("GET", paths[i])
      for _ = 1, n do deck[#deck + 1] = req end
   end
   limit = tonumber(args[4]) or 0
   math.randomseed(20240101)
   for i = #deck, 2, -1 do
      local j = math.random(i)
      deck[i], deck[j] = deck[j], deck[i]
   end
end

function request()
   pos = pos % #deck + 1
   return deck[pos]
end

-- wrk's main thread sleeps for the whole -d even after thread:stop(), so the round ends by
-- leaving the process (one thread: -t 1); the kernel closes the connections.
function response(status, headers, body)
   seen = seen + 1
   if limit > 0 and seen >= limit then
      io.write(string.format("%d requests, limit reached\n", seen))
      io.flush()
      os.exit(0)
   end
end
