-- W1: GET /users/{id} for random existing users. The ids are in the file
-- named by BENCH_IDS (one per line), written by the bench driver.
local ids = {}

init = function(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

request = function()
  return wrk.format("GET", "/users/" .. ids[math.random(#ids)])
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
