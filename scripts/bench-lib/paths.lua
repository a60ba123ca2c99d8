-- wrk script: sends GETs that cycle through the paths listed (one a line) in the file named by
-- $NMR_BENCH_PATHS, each thread starting at a different offset; reports like report.lua.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "report.lua")

local paths = {}
for line in io.lines(os.getenv("NMR_BENCH_PATHS")) do
   if line ~= "" then paths[#paths + 1] = line end
end
local i = math.random(#paths)

function request()
   i = i % #paths + 1
   return wrk.format(nil, paths[i])
end
