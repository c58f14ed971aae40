-- W1: GET /users/{id} for random existing users, each with its own bearer
-- token. The users are in the file named by BENCH_IDS (`id,token` per
-- line), written by the bench driver.
dofile(os.getenv("BENCH_LUA_DIR") .. "/users.lua")

request = function()
  local i = math.random(#ids)
  return wrk.format("GET", "/users/" .. ids[i], { ["Authorization"] = "Bearer " .. tokens[i] })
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
