package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts. On a cluster each one touches the keys of one shard
// only (every key it names starts with the shard's base, passed in ARGV,
// or is passed in KEYS), so it runs on one slot; on a single server,
// listScript and deleteUserScript take every shard in one run. Each run
// is atomic, as every Redis script is.
//
// A record is a hash with the fields
//
//	v  Version, decimal
//	u  UserID
//	t  UpdatedAt, Unix milliseconds, decimal
//	e  ExpiresAt, Unix milliseconds, decimal
//	d  Data
//	m  Meta
//	w  the nonce of the write that stored it, so that a write the client
//	   sends again (go-redis retries a command whose reply it lost) is
//	   recognised as done rather than refused
//
// The user index u:<userID> is a sorted set of the shard's record IDs of
// that user scored by UpdatedAt; the expiry index e is a sorted set of all
// the shard's record IDs scored by ExpiresAt. Scripts that remove records
// and return what they removed keep their reply for a minute under
// m:<nonce>, for the same reason as w.

// prelude is shared by the scripts that store a record: the safety-net
// expiry (see Options.KeepExpired).
const prelude = `
local now
local function now_ms()
	if not now then
		local t = redis.call('TIME')
		now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
	end
	return now
end

-- deadline returns when Redis may remove a record that expires at
-- expires (ms): keep (ms) after the later of expires and now, or false
-- when keep is negative (no safety net).
local function deadline(expires, keep)
	keep = tonumber(keep)
	if keep < 0 then
		return false
	end
	return math.max(tonumber(expires), now_ms()) + keep
end

-- expire_record makes the record key expire at at, or never when at is
-- false.
local function expire_record(key, at)
	if at then
		redis.call('PEXPIREAT', key, string.format('%.0f', at))
	else
		redis.call('PERSIST', key)
	end
end

-- extend_index makes the index key live at least until at, or never when
-- at is false. An index that has no expiry and holds other records than
-- the one just added keeps none: one of them may have been stored without
-- a safety net.
local function extend_index(key, at)
	if not at then
		redis.call('PERSIST', key)
		return
	end
	local ttl = redis.call('PTTL', key)
	if ttl == -1 then
		if redis.call('ZCARD', key) == 1 then
			redis.call('PEXPIREAT', key, string.format('%.0f', at))
		end
	elseif ttl >= 0 and now_ms() + ttl < at then
		redis.call('PEXPIREAT', key, string.format('%.0f', at))
	end
end
`

// createScript stores a new record unless its ID is taken.
// KEYS: record, expiry index. ARGV: base, id, version, user, updated,
// expires, data, meta, nonce, keep.
// Reply: 1 stored (or stored by this very call before), 0 taken.
var createScript = goredis.NewScript(prelude + `
local rec, exp, base, id = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if redis.call('EXISTS', rec) == 1 then
	if redis.call('HGET', rec, 'w') == ARGV[9] then
		return 1
	end
	return 0
end
redis.call('HSET', rec, 'v', ARGV[3], 'u', ARGV[4], 't', ARGV[5], 'e', ARGV[6], 'd', ARGV[7], 'm', ARGV[8], 'w', ARGV[9])
redis.call('ZADD', exp, ARGV[6], id)
local at = deadline(ARGV[6], ARGV[10])
expire_record(rec, at)
extend_index(exp, at)
if ARGV[4] ~= '' then
	local u = base .. 'u:' .. ARGV[4]
	redis.call('ZADD', u, ARGV[5], id)
	extend_index(u, at)
end
return 1
`)

// updateScript replaces a record stored at the given version.
// KEYS: record, expiry index. ARGV: base, id, version, next version, user,
// updated, expires, data, meta, nonce, keep.
// Reply: 1 stored (or stored by this very call before), 0 another
// version is stored, -1 no record.
var updateScript = goredis.NewScript(prelude + `
local rec, exp, base, id = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local cur = redis.call('HMGET', rec, 'v', 'u', 'w')
if not cur[1] then
	return -1
end
if cur[1] ~= ARGV[3] then
	if cur[1] == ARGV[4] and cur[3] == ARGV[10] then
		return 1
	end
	return 0
end
redis.call('HSET', rec, 'v', ARGV[4], 'u', ARGV[5], 't', ARGV[6], 'e', ARGV[7], 'd', ARGV[8], 'm', ARGV[9], 'w', ARGV[10])
redis.call('ZADD', exp, ARGV[7], id)
local at = deadline(ARGV[7], ARGV[11])
expire_record(rec, at)
extend_index(exp, at)
if cur[2] ~= '' and cur[2] ~= ARGV[5] then
	redis.call('ZREM', base .. 'u:' .. cur[2], id)
end
if ARGV[5] ~= '' then
	local u = base .. 'u:' .. ARGV[5]
	redis.call('ZADD', u, ARGV[6], id)
	extend_index(u, at)
end
return 1
`)

// deleteScript removes records of one shard, and their index entries.
// KEYS: expiry index. ARGV: base, ids...
var deleteScript = goredis.NewScript(`
local exp, base = KEYS[1], ARGV[1]
for i = 2, #ARGV do
	local id = ARGV[i]
	local rec = base .. 'r:' .. id
	local u = redis.call('HGET', rec, 'u')
	if u then
		redis.call('UNLINK', rec)
		if u ~= '' then
			redis.call('ZREM', base .. 'u:' .. u, id)
		end
	end
	redis.call('ZREM', exp, id)
end
return 0
`)

// listScript returns a user's records, Data left out, from one or more
// shards (on a cluster, one), and drops the index entries of records that
// are gone (Redis expired them) or are no longer the user's.
// KEYS: the user's index in each shard. ARGV: user, then each shard's
// base.
// Reply: id, version, updated, expires, meta, for each record.
var listScript = goredis.NewScript(`
local user = ARGV[1]
local out = {}
for k, idx in ipairs(KEYS) do
	local base = ARGV[k + 1]
	for _, id in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
		local f = redis.call('HMGET', base .. 'r:' .. id, 'v', 'u', 't', 'e', 'm')
		if f[1] and f[2] == user then
			out[#out + 1] = id
			out[#out + 1] = f[1]
			out[#out + 1] = f[3]
			out[#out + 1] = f[4]
			out[#out + 1] = f[5]
		else
			redis.call('ZREM', idx, id)
			if not f[1] then
				redis.call('ZREM', base .. 'e', id)
			end
		end
	end
end
return out
`)

// deleteUserScript removes a user's records from one or more shards (on a
// cluster, one), except the listed ones, repairing the index as
// listScript does.
// KEYS: the user's index in each shard. ARGV: user, nonce, each shard's
// base, then the IDs to keep.
// Reply: the IDs removed.
var deleteUserScript = goredis.NewScript(`
local user = ARGV[1]
local memo = ARGV[3] .. 'm:' .. ARGV[2]
if redis.call('EXISTS', memo) == 1 then
	return redis.call('LRANGE', memo, 0, -1)
end
local kept = {}
for i = 3 + #KEYS, #ARGV do
	kept[ARGV[i]] = true
end
local out = {}
for k, idx in ipairs(KEYS) do
	local base = ARGV[k + 2]
	for _, id in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
		local rec = base .. 'r:' .. id
		local u = redis.call('HGET', rec, 'u')
		if not u then
			redis.call('ZREM', idx, id)
			redis.call('ZREM', base .. 'e', id)
		elseif u ~= user then
			redis.call('ZREM', idx, id)
		elseif not kept[id] then
			redis.call('UNLINK', rec)
			redis.call('ZREM', idx, id)
			redis.call('ZREM', base .. 'e', id)
			out[#out + 1] = id
		end
	end
end
for i = 1, #out, 1000 do
	redis.call('RPUSH', memo, unpack(out, i, math.min(i + 999, #out)))
end
if #out > 0 then
	redis.call('PEXPIRE', memo, 60000)
end
return out
`)

// sweepScript removes at most limit records of one shard that expired
// before the cut-off (ms), and drops the expiry entries of records that
// are gone.
// KEYS: expiry index. ARGV: base, cut-off, limit, nonce.
// Reply: {removed, entries looked at}.
var sweepScript = goredis.NewScript(`
local exp, base = KEYS[1], ARGV[1]
local memo = base .. 'm:' .. ARGV[4]
local done = redis.call('LRANGE', memo, 0, -1)
if #done == 2 then
	return {tonumber(done[1]), tonumber(done[2])}
end
local before = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', exp, '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
	local rec = base .. 'r:' .. id
	local f = redis.call('HMGET', rec, 'e', 'u')
	if not f[1] then
		redis.call('ZREM', exp, id)
	elseif tonumber(f[1]) < before then
		redis.call('UNLINK', rec)
		redis.call('ZREM', exp, id)
		if f[2] and f[2] ~= '' then
			redis.call('ZREM', base .. 'u:' .. f[2], id)
		end
		n = n + 1
	else
		redis.call('ZADD', exp, f[1], id)
	end
end
if n > 0 then
	redis.call('RPUSH', memo, n, #ids)
	redis.call('PEXPIRE', memo, 60000)
end
return {n, #ids}
`)
