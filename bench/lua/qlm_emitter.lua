-- qlm_emitter: the webhook emitter a user would write in Lua in an
-- afternoon, for bench/event-path's scenario L.  Not durable: an event
-- lives in the worker's memory until its one POST is done; a failed POST,
-- a reload or a crash loses it.  Nothing here is installed.
--
--   lua_package_path "/path/to/bench/lua/?.lua;;";
--   init_by_lua_block {
--       require("qlm_emitter").configure{ host = "127.0.0.1", port = 8080,
--           path = "/hooks/qlm", secret = "s3cret",
--           events = { license_activated = true, license_created = true } }
--   }
--   location /qlmLicenseServer/ {
--       proxy_pass ...;
--       body_filter_by_lua_block { require("qlm_emitter").body_filter() }
--       log_by_lua_block { require("qlm_emitter").log() }
--   }
--
-- What it does, as the module does: the method (the last segment of the
-- path) gives the event, as in conf/qlm.conf; a 2xx answer without a QLM
-- error is captured (up to 64 KB); the payload has the request's fields
-- and the answer's <pckey>; the POST carries X-QLM-Signature, the hex
-- SHA-256 of body followed by the secret (LuaJIT FFI into libcrypto), over
-- a kept-alive cosocket, from a zero-delay timer after the request.

local ffi = require "ffi"

local M = {}

local conf = {
    host = "127.0.0.1", port = 80, path = "/", secret = "",
    events = {}, timeout = 2000, pool_size = 64,
}

local methods = {
    ActivateKey = "license_activated",
    GetActivationKey = "license_created",
    GetActivationKeyWithExpiryDate = "license_created",
    ReleaseLicenseHttp = "license_released",
    RevokeLicenseHttp = "license_modified",
    RenewSubscriptionHttp = "license_modified",
    UpdateLicenseHttp = "license_modified",
    DeleteLicense = "license_deleted",
    UpdateUserInformation = "customer_modified",
    DeleteUser = "customer_deleted",
}

-- LicenseInfo keys, in QLM's order, and the query arguments they come from
local fields = {
    { "ActivationKey", "is_avkey" }, { "ComputerID", "is_pcid" },
    { "ComputerName", "is_computer_name" }, { "Email", "is_email" },
    { "FullName", "is_fullname" }, { "Company", "is_company" },
    { "ProductID", "is_productid" }, { "MajorVersion", "is_majorversion" },
    { "MinorVersion", "is_minorversion" }, { "NumLicenses", "is_quantity" },
    { "Features", "is_features" }, { "UserData", "is_userdata1" },
}

local capture_max = 65536

ffi.cdef [[
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
]]

local crypto
do
    local ok, lib = pcall(ffi.load, "crypto")
    if not ok then
        lib = ffi.load("libcrypto.so.3")
    end
    crypto = lib
end

local md = ffi.new("unsigned char[32]")
local hexbuf = ffi.new("char[64]")
local hexdigits = "0123456789abcdef"

local function sha256_hex(s)
    crypto.SHA256(s, #s, md)
    for i = 0, 31 do
        local b = md[i]
        hexbuf[i * 2] = hexdigits:byte(math.floor(b / 16) + 1)
        hexbuf[i * 2 + 1] = hexdigits:byte(b % 16 + 1)
    end
    return ffi.string(hexbuf, 64)
end

local function json_str(s)
    s = s:gsub('[%c"\\]', function(c)
        if c == '"' then return '\\"' end
        if c == "\\" then return "\\\\" end
        return string.format("\\u%04x", c:byte())
    end)
    return '"' .. s .. '"'
end

local function uuid()
    local r = math.random
    return string.format("%08x-%04x-4%03x-%04x-%04x%08x", r(0, 0xffffffff),
        r(0, 0xffff), r(0, 0xfff), r(0, 0x3fff) + 0x8000, r(0, 0xffff),
        r(0, 0xffffffff))
end

function M.configure(t)
    for k, v in pairs(t) do
        conf[k] = v
    end
end

function M.body_filter()
    local ctx = ngx.ctx

    if ctx.qlm_skip then
        return
    end

    if ctx.qlm_chunks == nil then
        local method = ngx.var.uri:match("([^/]+)$")
        local event = method and methods[method]
        local status = ngx.status

        if event == nil or not conf.events[event]
           or status < 200 or status > 299
        then
            ctx.qlm_skip = true
            return
        end

        ctx.qlm_event = event
        ctx.qlm_chunks = {}
        ctx.qlm_size = 0
    end

    local chunk = ngx.arg[1]
    if chunk ~= "" and ctx.qlm_size + #chunk <= capture_max then
        ctx.qlm_chunks[#ctx.qlm_chunks + 1] = chunk
        ctx.qlm_size = ctx.qlm_size + #chunk
    end
end

local function deliver(premature, event, body)
    if premature then
        ngx.log(ngx.ERR, "qlm emitter: ", event, " lost: worker exiting")
        return
    end

    local sock = ngx.socket.tcp()
    sock:settimeout(conf.timeout)

    local ok, err = sock:connect(conf.host, conf.port)
    if not ok then
        ngx.log(ngx.ERR, "qlm emitter: ", event, " lost: connect: ", err)
        return
    end

    local req = "POST " .. conf.path .. " HTTP/1.1\r\n"
        .. "Host: " .. conf.host .. ":" .. conf.port .. "\r\n"
        .. "Content-Type: application/json\r\n"
        .. "Content-Length: " .. #body .. "\r\n"
        .. "X-QLM-Signature: " .. sha256_hex(body .. conf.secret) .. "\r\n"
        .. "X-QLM-Event: " .. event .. "\r\n"
        .. "X-QLM-Delivery-Attempt: 1\r\n"
        .. "User-Agent: qlm-emitter.lua\r\n\r\n" .. body

    ok, err = sock:send(req)
    if not ok then
        ngx.log(ngx.ERR, "qlm emitter: ", event, " lost: send: ", err)
        sock:close()
        return
    end

    local line
    line, err = sock:receive("*l")
    if not line then
        ngx.log(ngx.ERR, "qlm emitter: ", event, " lost: receive: ", err)
        sock:close()
        return
    end

    local status = tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
    local length, close = 0, false

    while true do
        local h
        h, err = sock:receive("*l")
        if not h then
            ngx.log(ngx.ERR, "qlm emitter: ", event, " lost: receive: ", err)
            sock:close()
            return
        end
        if h == "" then
            break
        end
        local name, value = h:match("^([^:]+):%s*(.*)$")
        if name then
            name = name:lower()
            if name == "content-length" then
                length = tonumber(value) or 0
            elseif name == "connection" and value:lower() == "close" then
                close = true
            end
        end
    end

    if length > 0 then
        local _
        _, err = sock:receive(length)
        if err then
            close = true
        end
    end

    if close then
        sock:close()
    else
        sock:setkeepalive(60000, conf.pool_size)
    end

    if status == nil or status < 200 or status > 299 then
        ngx.log(ngx.ERR, "qlm emitter: ", event, " lost: status ",
                status or "?")
    end
end

function M.log()
    local ctx = ngx.ctx
    local chunks = ctx.qlm_chunks

    if chunks == nil then
        return
    end

    local answer = table.concat(chunks)

    -- a QLM error: an <error> element, or a text starting "Error"
    if answer:find("<error", 1, true) or answer:find("^%s*Error") then
        return
    end

    local args = ngx.req.get_uri_args()
    local info = {}

    for _, f in ipairs(fields) do
        local v = args[f[2]]
        if f[1] == "ActivationKey" and (v == nil or v == "") then
            v = answer:match("<pckey>([^<]*)</pckey>")
        end
        if type(v) == "string" and v ~= "" then
            info[#info + 1] = json_str(f[1]) .. ":" .. json_str(v)
        end
    end

    local body = '{"EventType":' .. json_str(ctx.qlm_event)
        .. ',"EventId":' .. json_str(uuid())
        .. ',"Timestamp":' .. json_str(ngx.localtime():gsub(" ", "T"))
        .. ',"LicenseInfo":{' .. table.concat(info, ",") .. "}}"

    local ok, err = ngx.timer.at(0, deliver, ctx.qlm_event, body)
    if not ok then
        ngx.log(ngx.ERR, "qlm emitter: ", ctx.qlm_event, " lost: timer: ",
                err)
    end
end

return M
