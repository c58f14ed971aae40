-- Soak: a steady mix through every service — catalogue reads, user lookups
-- (user-service over gRPC) and, one request in ten, an order (order-service,
-- the saga, events to notification-service) — for random existing users,
-- each with its own bearer token (BENCH_IDS: `id,token` per line).
dofile(os.getenv("BENCH_LUA_DIR") .. "/users.lua")
local skus = { "TEE-BLACK-M", "HOODIE-GREY-L", "MUG-STEEL", "STICKER-PACK", "CAP-NAVY" }
local n = 0

request = function()
  n = n + 1
  local i = math.random(#ids)
  local auth = "Bearer " .. tokens[i]
  if n % 10 == 0 then
    local body = string.format('{"user_id":"%s","items":[{"sku":"%s","quantity":1}]}',
      ids[i], skus[math.random(#skus)])
    return wrk.format("POST", "/orders",
      { ["Content-Type"] = "application/json", ["Authorization"] = auth }, body)
  elseif n % 2 == 0 then
    return wrk.format("GET", "/products")
  end
  return wrk.format("GET", "/users/" .. ids[i], { ["Authorization"] = auth })
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
