-- W2: POST /orders for random existing users (all with ample credit), one
-- random SKU with ample stock.
local ids = {}
local skus = { "TEE-BLACK-M", "HOODIE-GREY-L", "MUG-STEEL", "STICKER-PACK", "CAP-NAVY" }

init = function(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

request = function()
  local body = string.format('{"user_id":"%s","items":[{"sku":"%s","quantity":1}]}',
    ids[math.random(#ids)], skus[math.random(#skus)])
  return wrk.format("POST", "/orders", { ["Content-Type"] = "application/json" }, body)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
