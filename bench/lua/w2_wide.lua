-- W2 on the wide catalogue: like w2.lua, but each order buys one of the
-- thousand products the bench seeds (BENCH-0001 … BENCH-1000), so orders
-- rarely update the same stock row at once.
dofile(os.getenv("BENCH_LUA_DIR") .. "/users.lua")

request = function()
  local i = math.random(#ids)
  local body = string.format('{"user_id":"%s","items":[{"sku":"BENCH-%04d","quantity":1}]}',
    ids[i], math.random(1000))
  return wrk.format("POST", "/orders",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[i] }, body)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
