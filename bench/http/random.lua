-- wrk script: every request is a GET of a name drawn at random from the
-- file given as the script argument (one URL path a line), over the
-- connection wrk keeps alive. Requests are formatted once per thread, so
-- the client's cost per request is the same for every server.
local reqs = {}

function init(args)
	local f = assert(io.open(args[1], "r"))
	for line in f:lines() do
		if #line > 0 then
			reqs[#reqs + 1] = wrk.format("GET", line)
		end
	end
	f:close()
	assert(#reqs > 0, "no names in " .. args[1])
	-- Each thread seeds differently, or all would walk the same sequence.
	math.randomseed(os.time() + tonumber(tostring(reqs):match("0x(%x+)"), 16) % 100000)
end

function request()
	return reqs[math.random(#reqs)]
end
