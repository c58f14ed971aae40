-- The customers every workload script draws from: the file named by
-- BENCH_IDS (`id,token` per line), written by the bench driver. Each wrk
-- thread runs this `init` in its own Lua state.
ids, tokens = {}, {}

init = function(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    local id, token = line:match("([^,]+),([^,]+)")
    ids[#ids + 1] = id
    tokens[#tokens + 1] = token
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end
