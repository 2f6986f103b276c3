package redis

import (
	"hash/fnv"
	"strconv"
)

// The key layout (see "Key layout" in the package documentation). Every
// key of a shard carries the shard's hash tag, so that the shard's keys
// live in one Redis Cluster slot and every script touches that slot only.

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// A shard is one hash tag's worth of keys: a share of the records, the
// per-user indexes of those records and their expiry index.
type shard struct {
	base   string // prefix + "{" + tag + "}:", what every key of the shard starts with
	expiry string // the expiry index: base + "e"
}

func newShard(prefix, tag string) shard {
	base := prefix + "{" + tag + "}:"
	return shard{base: base, expiry: base + "e"}
}

// record is the key of the hash that holds record id.
func (s *shard) record(id string) string { return s.base + "r:" + id }

// user is the key of the sorted set of userID's records in this shard.
func (s *shard) user(userID string) string { return s.base + "u:" + userID }

// memo is the key under which a script keeps its reply for a retry.
func (s *shard) memo(nonce string) string { return s.base + "m:" + nonce }

// newShards returns the n shards of prefix.
func newShards(prefix string, n int) []shard {
	shards := make([]shard, n)
	for k := range shards {
		shards[k] = newShard(prefix, shardTag(k, n))
	}
	return shards
}

// shardOf returns the shard of record id among n: FNV-1a (32 bits) of the
// ID, modulo n.
func shardOf(id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// shardTag returns the hash tag of shard k of n: the first of "k.0",
// "k.1", ... whose slot lies in the k-th of n equal ranges of the 16384
// slots, so that the shards spread evenly over the masters of a cluster
// whose masters hold contiguous ranges of slots (as redis-cli --cluster
// create assigns them).
func shardTag(k, n int) string {
	lo, hi := k*clusterSlots/n, (k+1)*clusterSlots/n
	for j := 0; ; j++ {
		tag := strconv.Itoa(k) + "." + strconv.Itoa(j)
		if s := int(crc16(tag) % clusterSlots); s >= lo && s < hi {
			return tag
		}
	}
}

// keySlot returns the Redis Cluster slot of key.
func keySlot(key string) int { return int(crc16(hashTag(key)) % clusterSlots) }

// hashTag returns the part of key that Redis Cluster hashes: the text
// between the first "{" and the first "}" after it, when that is not
// empty, and the whole key otherwise.
func hashTag(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j == i+1 {
					return key
				}
				return key[i+1 : j]
			}
		}
		return key
	}
	return key
}

// crc16 is the CRC-16/XMODEM that Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
