-- W1: GET /users/{id} for random existing users, each with its own bearer
-- token. The users are in the file named by BENCH_IDS (`id,token` per
-- line), written by the bench driver.
local ids, tokens = {}, {}

init = function(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    local id, token = line:match("([^,]+),([^,]+)")
    ids[#ids + 1] = id
    tokens[#tokens + 1] = token
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

request = function()
  local i = math.random(#ids)
  return wrk.format("GET", "/users/" .. ids[i], { ["Authorization"] = "Bearer " .. tokens[i] })
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
