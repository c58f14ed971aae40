-- W2: POST /orders for random existing users (all with ample credit), each
-- with its own bearer token, one random SKU with ample stock.
local ids, tokens = {}, {}
local skus = { "TEE-BLACK-M", "HOODIE-GREY-L", "MUG-STEEL", "STICKER-PACK", "CAP-NAVY" }

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
  local body = string.format('{"user_id":"%s","items":[{"sku":"%s","quantity":1}]}',
    ids[i], skus[math.random(#skus)])
  return wrk.format("POST", "/orders",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[i] }, body)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
