-- W2: POST /orders for random existing users (all with ample credit), each
-- with its own bearer token, one random SKU with ample stock.
dofile(os.getenv("BENCH_LUA_DIR") .. "/users.lua")
local skus = { "TEE-BLACK-M", "HOODIE-GREY-L", "MUG-STEEL", "STICKER-PACK", "CAP-NAVY" }

request = function()
  local i = math.random(#ids)
  local body = string.format('{"user_id":"%s","items":[{"sku":"%s","quantity":1}]}',
    ids[i], skus[math.random(#skus)])
  return wrk.format("POST", "/orders",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[i] }, body)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
