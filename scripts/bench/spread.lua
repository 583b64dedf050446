-- wrk script for scripts/load-cluster.sh: authorize.lua's requests and
-- figures, with wrk's threads spread over several replicas on 127.0.0.1
-- (REPLICA_PORTS="4033,4034"): thread i talks to port i mod n, so the
-- connections split evenly and one latency histogram covers them all.
-- Run wrk with a thread count that is a multiple of the ports'.

dofile("scripts/bench/authorize.lua")

local ports = {}
for port in string.gmatch(os.getenv("REPLICA_PORTS") or "", "%d+") do
  table.insert(ports, port)
end

local authorize_setup = setup
local spread = 0
function setup(thread)
  authorize_setup(thread)
  if #ports > 0 then
    thread.addr = wrk.lookup("127.0.0.1", ports[(spread % #ports) + 1])[1]
  end
  spread = spread + 1
end

-- ACKED_DIR: every decision id answered with 200 is appended, one per
-- line, to ACKED_DIR/acked-<thread>.txt, as soon as its reply arrives: the
-- decisions this client holds as acknowledged.
local acked_dir = os.getenv("ACKED_DIR")
if acked_dir and acked_dir ~= "" then
  local authorize_init = init
  local authorize_response = response
  function init(args)
    authorize_init(args)
    acked = io.open(acked_dir .. "/acked-" .. tostring(offset or 0) .. ".txt", "a")
    acked:setvbuf("line")
  end
  function response(status, headers, body)
    authorize_response(status, headers, body)
    if status == 200 then
      local id = string.match(body or "", '"decisionId":(%d+)')
      if id then
        acked:write(id, "\n")
      end
    end
  end
end
