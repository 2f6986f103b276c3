package redis

// Internals for the tests of package redis_test.

// RecordKey, UserKey and ExpiryKey return the keys of record id and of its
// index entries for userID.
func (p *Persister) RecordKey(id string) string { return p.shardOf(id).record(id) }

func (p *Persister) UserKey(id, userID string) string { return p.shardOf(id).user(userID) }

func (p *Persister) ExpiryKey(id string) string { return p.shardOf(id).expiry }

// SetNonce replaces the nonces that writes carry.
func (p *Persister) SetNonce(f func() string) { p.nonce = f }

// Scripts' SHA-1 digests, to find them in SLOWLOG.
var SweepScriptHash = sweepScript.Hash()

var (
	KeySlot  = keySlot
	ShardTag = shardTag
	ShardOf  = shardOf
)
