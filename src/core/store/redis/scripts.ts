/**
 * The Lua scripts of the Redis store: each write is ONE script, so Redis
 * runs it atomically (no other command interleaves) and replicates its
 * effects. They apply the same rules as decisions.ts; the TypeScript side
 * turns their answers into the same CoordinatorErrors.
 *
 * Values are never decoded in Lua: the client passes JSON text and the
 * scripts only concatenate it (cjson would round numbers to 14 digits and
 * turn [] into {}). The one exception, an increment, reads a value only
 * when its text is an integer's digits. Times come from the server's clock (TIME), one clock for
 * every machine.
 *
 * Entry format in the `kv:<ns>` hash (one field per key, tombstones kept so
 * versions never go back):
 *   <version> \n <s|d> \n <at> \n <by JSON> \n <value JSON>
 */

const NOW = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Compare-and-set write, change record and notification in one step.
 * KEYS: kv:<ns>, log:<ns>, meta, namespaces
 * ARGV: ns, key, op (set|delete|incr), mode (none|visible|raw), expected, keyJson, valueJson (incr: the delta), byJson, nsJson, maxLogBytes, channel, maxNamespaces, maxNamespaceBytes, maxStoreBytes
 * Returns {'ok', version, at, seq, valueJson} | {'conflict', currentVersion, entry (mode raw: the one found, nil if none)} | {'skip', 0} | {'quota', namespaces} | {'bytes', 'namespace'|'store', wouldHold}
 *   | {'notcounter', currentJson}: an increment of a value that is not a whole number, or past the exact range
 */
export const WRITE_LUA = `${NOW}
local ns, key, op, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local e = redis.call('HGET', KEYS[1], key)
local pv, deleted, prev = 0, true, nil
if e then
  local a = string.find(e, '\\n', 1, true)
  pv = tonumber(string.sub(e, 1, a - 1))
  deleted = string.sub(e, a + 1, a + 1) == 'd'
  if not deleted then
    local b = string.find(e, '\\n', a + 3, true)
    local c = string.find(e, '\\n', b + 1, true)
    prev = string.sub(e, c + 1)
  end
end
local visible = pv
if deleted then visible = 0 end
if mode == 'visible' and tonumber(ARGV[5]) ~= visible then return {'conflict', visible} end
if mode == 'raw' and tonumber(ARGV[5]) ~= pv then return {'conflict', pv, e or false} end
if op == 'delete' and deleted then return {'skip', 0} end
local value = ARGV[7]
-- decisions.ts incremented(): whole numbers only, absent counts as 0. The one place a value is read
-- here: a JSON integer's text, which is only digits, so nothing is rounded or re-encoded.
if op == 'incr' then
  local base = 0
  if prev then
    if not string.match(prev, '^%-?%d+$') then return {'notcounter', prev} end
    base = tonumber(prev)
  end
  local n = base + tonumber(ARGV[7])
  if n > 9007199254740991 or n < -9007199254740991 then return {'notcounter', prev or '0'} end
  value = string.format('%d', n)
  op = 'set'
end
-- rules/limits.ts tooManyNamespaces(): a write never creates one namespace past the quota.
-- Internal namespaces ('_' first: the inboxes) are not agents' and do not count.
if string.sub(ns, 1, 1) ~= '_' and redis.call('SISMEMBER', KEYS[4], ns) == 0 then
  local count = redis.call('SCARD', KEYS[4]) - redis.call('SISMEMBER', KEYS[4], '_messages')
  if count >= tonumber(ARGV[12]) then return {'quota', count} end
end
-- decisions.ts checkBytes(): key + value JSON bytes per namespace and per project; only growth is refused.
local before, after = 0, 0
if prev then before = #key + #prev end
if op == 'set' then after = #key + #value end
if after > before then
  local nsBytes = tonumber(redis.call('HGET', KEYS[3], 'vbytes:' .. ns) or '0') - before + after
  if nsBytes > tonumber(ARGV[13]) then return {'bytes', 'namespace', nsBytes} end
  local allBytes = tonumber(redis.call('HGET', KEYS[3], 'vbytes') or '0') - before + after
  if allBytes > tonumber(ARGV[14]) then return {'bytes', 'store', allBytes} end
end

local at = nowMs()
local version = pv + 1
local by = ARGV[8]
if op == 'set' then
  redis.call('HSET', KEYS[1], key, version .. '\\ns\\n' .. at .. '\\n' .. by .. '\\n' .. value)
  if deleted then redis.call('HINCRBY', KEYS[3], 'live:' .. ns, 1) end
else
  redis.call('HSET', KEYS[1], key, version .. '\\nd\\n' .. at .. '\\n' .. by .. '\\n')
  redis.call('HINCRBY', KEYS[3], 'live:' .. ns, -1)
end
redis.call('SADD', KEYS[4], ns)
-- Counters start at 0 on a project written before they existed: never below 0.
for _, field in ipairs({'vbytes:' .. ns, 'vbytes'}) do
  if redis.call('HINCRBY', KEYS[3], field, after - before) < 0 then redis.call('HSET', KEYS[3], field, 0) end
end

local seq = redis.call('HINCRBY', KEYS[3], 'seq:' .. ns, 1)
local rec = '{"namespace":' .. ARGV[9] .. ',"seq":' .. seq .. ',"key":' .. ARGV[6] .. ',"op":"' .. op .. '"'
if op == 'set' then rec = rec .. ',"value":' .. value end
rec = rec .. ',"version":' .. version .. ',"previousVersion":' .. pv
if prev then rec = rec .. ',"previousValue":' .. prev end
rec = rec .. ',"at":' .. at .. ',"by":' .. by .. '}'
local id = seq .. '-0'
redis.call('XADD', KEYS[2], id, 'c', rec)

-- Keep the log within its byte bound: drop the oldest records, never the newest.
local bytes = redis.call('HINCRBY', KEYS[3], 'bytes:' .. ns, #rec)
local max = tonumber(ARGV[10])
if bytes > max then
  local removed, from, cut = 0, '-', nil
  while cut == nil do
    local batch = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', 100)
    if #batch == 0 then break end
    for _, item in ipairs(batch) do
      if item[1] == id or bytes - removed <= max then
        cut = item[1]
        break
      end
      removed = removed + #item[2][2]
    end
    if cut == nil then from = '(' .. batch[#batch][1] end
  end
  if cut then redis.call('XTRIM', KEYS[2], 'MINID', cut) end
  redis.call('HINCRBY', KEYS[3], 'bytes:' .. ns, -removed)
end

redis.call('PUBLISH', ARGV[11], 'c' .. rec)
return {'ok', version, at, seq, value}
`;

const CLAIM_RULES = `
local function startsWith(s, p) return string.sub(s, 1, #p) == p end
-- rules/claims.ts overlaps(): same resource, or one folder contains the other; '.' is everything; task: only equal.
local function overlaps(a, b)
  if a == b then return true end
  if startsWith(a, 'task:') or startsWith(b, 'task:') then return false end
  if a == '.' or b == '.' then return true end
  return startsWith(a, b .. '/') or startsWith(b, a .. '/')
end
-- rules/claims.ts splitClaimKey(): '<checkout>\x1f<resource>', or the resource alone outside git.
local function splitKey(key)
  local at = string.find(key, '\\031', 1, true)
  if at then return string.sub(key, 1, at - 1), string.sub(key, at + 1) end
  return '', key
end
-- rules/claims.ts holderKey(): the agent when it said who it is, else the session.
local function holderKey(h)
  if type(h.agent) == 'table' then return h.agent.kind .. ':' .. h.agent.sessionId end
  return h.sessionId
end
`;

/**
 * decisions.ts decideAcquire(): the same checkout conflicts; another worktree's
 * claim conflicts under 'refuse', is returned under 'warn', is ignored under 'off'.
 * KEYS: claims, claimVersions
 * ARGV: resource, holderJson, holderKey, ttlMs, channel, checkout ('' outside git), acrossWorktrees
 * Returns {'ok', claimJson, [otherKey, otherJson]...} | {'conflict', heldKey, claimJson}
 */
export const ACQUIRE_LUA = `${NOW}${CLAIM_RULES}
local res, checkout, across = ARGV[1], ARGV[6], ARGV[7]
local now = nowMs()
local all = redis.call('HGETALL', KEYS[1])
local elsewhere = {}
for i = 1, #all, 2 do
  local other = all[i]
  local c = cjson.decode(all[i + 1])
  local otherCheckout, otherRes = splitKey(other)
  if c.expiresAt <= now then
    redis.call('HDEL', KEYS[1], other)
  elseif holderKey(c.holder) ~= ARGV[3] and overlaps(res, otherRes) then
    if otherCheckout == checkout or across == 'refuse' then return {'conflict', other, all[i + 1]} end
    if across == 'warn' then
      elsewhere[#elsewhere + 1] = other
      elsewhere[#elsewhere + 1] = all[i + 1]
    end
  end
end
local key = res
if checkout ~= '' then key = checkout .. '\\031' .. res end
-- The fencing token: the key's version, which only grows (acquire, renew and release each bump it).
local token = redis.call('HINCRBY', KEYS[2], key, 1)
local claim = '{"holder":' .. ARGV[2] .. ',"fencingToken":' .. token .. ',"acquiredAt":' .. now .. ',"expiresAt":' .. (now + tonumber(ARGV[4])) .. '}'
redis.call('HSET', KEYS[1], key, claim)
redis.call('PUBLISH', ARGV[5], 'l')
local out = {'ok', claim}
for _, v in ipairs(elsewhere) do out[#out + 1] = v end
return out
`;

/**
 * decisions.ts heldClaim(): the grant named by resource and token, live, and
 * the caller's ('' = anyone holding the token: a revocation). Returns the
 * claim's JSON, or nil and the refusal to return. Reads KEYS[1] (claims).
 */
const HELD_CLAIM = `
local function heldClaim(res, token, byKey, now)
  local raw = redis.call('HGET', KEYS[1], res)
  if not raw then return nil, {'notheld'} end
  local c = cjson.decode(raw)
  if token < c.fencingToken then return nil, {'stale', c.fencingToken} end
  if c.fencingToken ~= token or c.expiresAt <= now then return nil, {'notheld'} end
  if byKey ~= '' and holderKey(c.holder) ~= byKey then return nil, {'notowner', raw} end
  return raw, nil
end
`;

/**
 * Renew, release or revoke one grant.
 * KEYS: claims, claimVersions
 * ARGV: claim key (rules/claims.ts claimKey), fencingToken, byHolderKey ('' = anyone holding the token: a revocation), action (renew|release), ttlMs, channel
 * Returns {'ok', claimJson} | {'stale', currentToken} | {'notheld'} | {'notowner', claimJson}
 */
export const END_CLAIM_LUA = `${NOW}${CLAIM_RULES}${HELD_CLAIM}
local res = ARGV[1]
local now = nowMs()
local raw, refused = heldClaim(res, tonumber(ARGV[2]), ARGV[3], now)
if refused then return refused end
redis.call('HINCRBY', KEYS[2], res, 1)
local out = raw
if ARGV[4] == 'renew' then
  out = string.gsub(raw, '"expiresAt":%d+}$', '"expiresAt":' .. (now + tonumber(ARGV[5])) .. '}')
  redis.call('HSET', KEYS[1], res, out)
else
  redis.call('HDEL', KEYS[1], res)
end
redis.call('PUBLISH', ARGV[6], 'l')
return {'ok', out}
`;

/**
 * A handoff (decisions.ts decideTransfer): the holder's grant goes to another
 * holder under a new token, unless the recipient would overlap a third holder.
 * Within the holder's checkout (the caller checked the recipient's is the same).
 * KEYS: claims, claimVersions
 * ARGV: claim key, fencingToken, byHolderKey, toHolderJson, toHolderKey, ttlMs, channel
 * Returns {'ok', claimJson} | {'stale', currentToken} | {'notheld'} | {'notowner', claimJson} | {'conflict', heldResource, claimJson}
 */
export const TRANSFER_CLAIM_LUA = `${NOW}${CLAIM_RULES}${HELD_CLAIM}
local res = ARGV[1]
local now = nowMs()
local raw, refused = heldClaim(res, tonumber(ARGV[2]), ARGV[3], now)
if refused then return refused end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local other = all[i]
  local o = cjson.decode(all[i + 1])
  local checkout, resource = splitKey(res)
  local otherCheckout, otherRes = splitKey(other)
  if other ~= res and otherCheckout == checkout and o.expiresAt > now and holderKey(o.holder) ~= ARGV[5] and overlaps(resource, otherRes) then
    return {'conflict', other, all[i + 1]}
  end
end
local next = redis.call('HINCRBY', KEYS[2], res, 1)
local claim = '{"holder":' .. ARGV[4] .. ',"fencingToken":' .. next .. ',"acquiredAt":' .. now .. ',"expiresAt":' .. (now + tonumber(ARGV[6])) .. '}'
redis.call('HSET', KEYS[1], res, claim)
redis.call('PUBLISH', ARGV[7], 'l')
return {'ok', claim}
`;

/**
 * Every claim of a session or of a participant, released at once.
 * KEYS: claims, claimVersions
 * ARGV: sessionId ('' = none), participantId ('' = none), channel, agentKey ('' = none)
 * Returns the number of live claims released.
 */
export const RELEASE_OF_LUA = `${NOW}${CLAIM_RULES}
local now = nowMs()
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  local c = cjson.decode(all[i + 1])
  local h = c.holder
  if (ARGV[1] ~= '' and h.sessionId == ARGV[1]) or (ARGV[2] ~= '' and h.participantId == ARGV[2]) or (ARGV[4] ~= '' and type(h.agent) == 'table' and holderKey(h) == ARGV[4]) then
    redis.call('HDEL', KEYS[1], all[i])
    if c.expiresAt > now then
      redis.call('HINCRBY', KEYS[2], all[i], 1)
      n = n + 1
    end
  end
end
if n > 0 then redis.call('PUBLISH', ARGV[3], 'l') end
return n
`;

/** Live claims by the server's clock. KEYS: claims. Returns {now, field, value, ...}. */
export const LIST_CLAIMS_LUA = `${NOW}
local out = {nowMs()}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all do out[#out + 1] = all[i] end
return out
`;
