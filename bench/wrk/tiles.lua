-- wrk script: GET a random full level-0 hash tile of log "default" among
-- the first TILES (bench/replicas.py replaces TILES). C2SP tlog-tiles
-- paths: the index in groups of three digits, all but the last with "x".
local n = TILES

local function tpath(i)
  local parts = {}
  repeat
    table.insert(parts, 1, string.format("%03d", i % 1000))
    i = math.floor(i / 1000)
  until i == 0
  for k = 1, #parts - 1 do
    parts[k] = "x" .. parts[k]
  end
  return table.concat(parts, "/")
end

request = function()
  return wrk.format("GET", "/v1/logs/default/tile/0/" .. tpath(math.random(0, n - 1)))
end
