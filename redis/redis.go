package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/listorder"
)

var _ qsessions.Persister = (*Persister)(nil)

var (
	// ErrEvicting reports that a Redis server may evict keys when it runs
	// out of memory (its maxmemory-policy is not noeviction): it would
	// delete sessions, silently signing their users out.
	ErrEvicting = errors.New("redis: the server evicts keys when memory runs out (maxmemory-policy is not noeviction)")

	// ErrPolicyUnknown reports that New could not read a server's
	// maxmemory-policy, because the server refuses CONFIG GET (many
	// managed services rename or forbid CONFIG, and an ACL user may lack
	// +config|get).
	ErrPolicyUnknown = errors.New("redis: cannot read the server's maxmemory-policy")
)

// Defaults of [Options].
const (
	DefaultPrefix      = "qsessions-db:"
	DefaultShards      = 16
	DefaultKeepExpired = 24 * time.Hour
	DefaultDeleteBatch = 100

	// MaxShards bounds Options.Shards.
	MaxShards = 1024
)

// newTimeout bounds the checks New makes.
const newTimeout = 10 * time.Second

// Options configure a [Persister]. The zero value of every field means its
// default; a nil *Options means all defaults. Every process sharing the
// sessions must use the same Prefix and Shards (they make the key names)
// and should use the same KeepExpired.
type Options struct {
	// Prefix begins every key (default "qsessions-db:"). It must not
	// contain "{" or "}", which would change the keys' hash tags.
	Prefix string

	// Shards is the number of hash tags the records are spread over
	// (default 16, at most MaxShards): in a Redis Cluster, the number of
	// slots that hold the sessions, and so the most masters that share
	// them. On a cluster, ListByUser and DeleteByUser run one script per
	// shard (on a single server, one in all), and DeleteExpired sweeps each
	// shard in turn. It is part of the key names: changing it hides every
	// stored session.
	Shards int

	// KeepExpired is how long Redis keeps a record after its ExpiresAt,
	// or after the write that stored it when that is later, before it
	// removes the record by itself, as a safety net for when no
	// DeleteExpired runs (default 24 hours). Until then, Load returns an
	// expired record and DeleteExpired removes and counts it, as the
	// Persister contract says; afterwards the record is gone. A negative
	// value turns the safety net off: records stay until DeleteExpired,
	// Delete or DeleteByUser removes them.
	KeepExpired time.Duration

	// DeleteBatch is the most records DeleteExpired removes in one script
	// (default 100): one script blocks the server while it runs, about
	// 10 µs per record.
	DeleteBatch int

	// NoEvictionCheck makes New skip its check that every server's
	// maxmemory-policy is noeviction: for a server that refuses CONFIG
	// GET but whose policy you have set to noeviction yourself, or to
	// accept, knowingly, a Redis that evicts sessions (and so signs users
	// out) when memory runs out.
	NoEvictionCheck bool
}

// A Persister is a [qsessions.Persister] on Redis, a single server or a
// Redis Cluster. Create it with [New]; it is safe for concurrent use.
type Persister struct {
	client goredis.UniversalClient
	single bool // one server: a script may take keys of every shard
	shards []shard
	keep   string // Options.KeepExpired in ms; "-1" for none
	batch  int
	nonce  func() string
}

// New returns a Persister over client, which the caller owns and closes:
// a *goredis.Client for a single server (or one behind Sentinel), a
// *goredis.ClusterClient for a Redis Cluster. It checks the options, then
// asks every server (every master of a cluster) for its maxmemory-policy
// and returns an error wrapping [ErrEvicting] unless it is noeviction, or
// one wrapping [ErrPolicyUnknown] when the server does not say (see
// Options.NoEvictionCheck). A *goredis.Client connected to a cluster node
// is refused: it would fail on most keys. The checks take at most 10
// seconds; an unreachable server fails New.
func New(client goredis.UniversalClient, opts *Options) (*Persister, error) {
	if client == nil {
		return nil, errors.New("redis: New: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Prefix = cmp.Or(o.Prefix, DefaultPrefix)
	o.Shards = cmp.Or(o.Shards, DefaultShards)
	o.KeepExpired = cmp.Or(o.KeepExpired, DefaultKeepExpired)
	o.DeleteBatch = cmp.Or(o.DeleteBatch, DefaultDeleteBatch)
	switch {
	case strings.ContainsAny(o.Prefix, "{}"):
		return nil, fmt.Errorf("redis: Options.Prefix %q contains { or }, which would change the keys' hash tags", o.Prefix)
	case o.Shards < 1 || o.Shards > MaxShards:
		return nil, fmt.Errorf("redis: Options.Shards is %d; want 1 to %d", o.Shards, MaxShards)
	case o.DeleteBatch < 1:
		return nil, fmt.Errorf("redis: Options.DeleteBatch is %d; want at least 1", o.DeleteBatch)
	}
	p := &Persister{
		client: client,
		single: isSingle(client),
		shards: newShards(o.Prefix, o.Shards),
		keep:   "-1",
		batch:  o.DeleteBatch,
		nonce:  newNonce,
	}
	if o.KeepExpired > 0 {
		p.keep = strconv.FormatInt(max(o.KeepExpired.Milliseconds(), 1), 10)
	}
	ctx, cancel := context.WithTimeout(context.Background(), newTimeout)
	defer cancel()
	if err := checkServers(ctx, client, !o.NoEvictionCheck); err != nil {
		return nil, err
	}
	return p, nil
}

// checkServers refuses a single-server client connected to a cluster node
// and, when policy is set, a server that may evict keys.
func checkServers(ctx context.Context, client goredis.UniversalClient, policy bool) error {
	switch c := client.(type) {
	case *goredis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
			return checkServer(ctx, n, n.Options().Addr, false, policy)
		})
	case *goredis.Ring:
		return c.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error {
			return checkServer(ctx, n, n.Options().Addr, true, policy)
		})
	case *goredis.Client:
		return checkServer(ctx, c, c.Options().Addr, true, policy)
	}
	// Another implementation of UniversalClient: as one server.
	return checkServer(ctx, client, "the server", false, policy)
}

func checkServer(ctx context.Context, n goredis.UniversalClient, addr string, single, policy bool) error {
	if single {
		info, err := n.Info(ctx, "cluster").Result()
		var re goredis.Error
		switch {
		case errors.As(err, &re):
			// INFO refused: a misuse shows up as MOVED errors instead.
		case err != nil:
			return fmt.Errorf("redis: %s: %w", addr, err)
		case strings.Contains(info, "cluster_enabled:1"):
			return fmt.Errorf("redis: %s is a Redis Cluster node: pass a *goredis.ClusterClient (goredis.NewClusterClient)", addr)
		}
	}
	if !policy {
		return nil
	}
	res, err := n.ConfigGet(ctx, "maxmemory-policy").Result()
	var re goredis.Error
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("%w of %s (CONFIG GET: %v): set it to noeviction, then set Options.NoEvictionCheck", ErrPolicyUnknown, addr, err)
	case err != nil:
		return fmt.Errorf("redis: %s: %w", addr, err)
	}
	policyName, ok := res["maxmemory-policy"]
	switch {
	case !ok:
		return fmt.Errorf("%w of %s (CONFIG GET returned none): set it to noeviction, then set Options.NoEvictionCheck", ErrPolicyUnknown, addr)
	case policyName != "noeviction":
		return fmt.Errorf("%w: %s has maxmemory-policy %s; set it to noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf), "+
			"or set Options.NoEvictionCheck to accept that users are signed out when memory runs out", ErrEvicting, addr, policyName)
	}
	return nil
}

func newNonce() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// isSingle reports whether client talks to one server, on which a script
// may take keys of any slot.
func isSingle(client goredis.UniversalClient) bool {
	_, ok := client.(*goredis.Client)
	return ok
}

// shardOf returns the shard that holds record id.
func (p *Persister) shardOf(id string) *shard {
	return &p.shards[shardOf(id, len(p.shards))]
}

// writeContext is ctx without its deadline, for the commands that change
// something: go-redis gives up waiting for a connection when ctx ends
// (nothing was sent: the method returns ctx's error and changes nothing),
// but once a command is sent, it waits for the reply for the client's
// ReadTimeout rather than until ctx's deadline, so that a write that
// succeeded is not reported as failed.
type writeContext struct{ context.Context }

func (writeContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func wrapErr(op, id string, err error) error {
	if id != "" {
		return fmt.Errorf("redis: %s %s: %w", op, id, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Load returns the record with the given ID.
func (p *Persister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return qsessions.Record{}, wrapErr("load", id, err)
	}
	vals, err := p.client.HMGet(ctx, p.shardOf(id).record(id), "v", "u", "t", "e", "d", "m").Result()
	if err != nil {
		return qsessions.Record{}, wrapErr("load", id, err)
	}
	if vals[0] == nil {
		return qsessions.Record{}, fmt.Errorf("redis: load %s: %w", id, qsessions.ErrNotFound)
	}
	r, err := parseRecord(id, vals[0], vals[1], vals[2], vals[3], vals[5])
	if err != nil {
		return qsessions.Record{}, wrapErr("load", id, err)
	}
	r.Data = bytesOf(vals[4])
	return r, nil
}

// parseRecord makes a record, Data left out, of the fields a script or
// HMGET returned.
func parseRecord(id string, version, user, updated, expires, meta any) (qsessions.Record, error) {
	r := qsessions.Record{ID: id, Meta: bytesOf(meta)}
	var err error
	if r.Version, err = parseInt(version); err != nil {
		return r, fmt.Errorf("corrupt record: version: %w", err)
	}
	r.UserID, _ = user.(string)
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return r, fmt.Errorf("corrupt record: updated: %w", err)
	}
	if r.ExpiresAt, err = parseTime(expires); err != nil {
		return r, fmt.Errorf("corrupt record: expires: %w", err)
	}
	return r, nil
}

func parseInt(v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%T, not a string", v)
	}
	return strconv.ParseInt(s, 10, 64)
}

func parseTime(v any) (time.Time, error) {
	ms, err := parseInt(v)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

// bytesOf returns a reply's bulk string as bytes of their own.
func bytesOf(v any) []byte {
	s, _ := v.(string)
	return []byte(s)
}

// Create stores a new record, or returns an error wrapping
// qsessions.ErrExists when its ID is taken.
func (p *Persister) Create(ctx context.Context, r qsessions.Record) error {
	if err := ctx.Err(); err != nil {
		return wrapErr("create", r.ID, err)
	}
	s := p.shardOf(r.ID)
	ok, err := createScript.Run(writeContext{ctx}, p.client, []string{s.record(r.ID), s.expiry},
		s.base, r.ID, strconv.FormatInt(r.Version, 10), r.UserID, millis(r.UpdatedAt), millis(r.ExpiresAt),
		r.Data, r.Meta, p.nonce(), p.keep).Int()
	switch {
	case err != nil:
		return wrapErr("create", r.ID, err)
	case ok == 0:
		return fmt.Errorf("redis: create %s: %w", r.ID, qsessions.ErrExists)
	}
	return nil
}

// Update stores r over the record with r's ID if that is still at
// r.Version, as version r.Version+1.
func (p *Persister) Update(ctx context.Context, r qsessions.Record) error {
	if err := ctx.Err(); err != nil {
		return wrapErr("update", r.ID, err)
	}
	s := p.shardOf(r.ID)
	res, err := updateScript.Run(writeContext{ctx}, p.client, []string{s.record(r.ID), s.expiry},
		s.base, r.ID, strconv.FormatInt(r.Version, 10), strconv.FormatInt(r.Version+1, 10), r.UserID,
		millis(r.UpdatedAt), millis(r.ExpiresAt), r.Data, r.Meta, p.nonce(), p.keep).Int()
	switch {
	case err != nil:
		return wrapErr("update", r.ID, err)
	case res == 0:
		return fmt.Errorf("redis: update %s at version %d: %w", r.ID, r.Version, qsessions.ErrConflict)
	case res < 0:
		return fmt.Errorf("redis: update %s: %w", r.ID, qsessions.ErrNotFound)
	}
	return nil
}

// A call is one run of a script: its keys and arguments.
type call struct {
	keys []string
	args []any
}

// eval runs script once per call, in one pipeline (one round trip per
// server), and returns the replies in the order of calls. It returns the
// first error, after every call has run.
func (p *Persister) eval(ctx context.Context, script *goredis.Script, calls []call) ([]any, error) {
	if len(calls) == 1 {
		v, err := script.Run(ctx, p.client, calls[0].keys, calls[0].args...).Result()
		return []any{v}, err
	}
	pipe := p.client.Pipeline()
	cmds := make([]*goredis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	pipe.Exec(ctx) // the errors are the commands'
	out := make([]any, len(calls))
	var first error
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if goredis.HasErrorPrefix(err, "NOSCRIPT") {
			// Not run: the server does not know the script yet.
			v, err = script.Run(ctx, p.client, calls[i].keys, calls[i].args...).Result()
		}
		if err != nil && first == nil {
			first = err
		}
		out[i] = v
	}
	return out, first
}

// Delete removes the records with the given IDs; missing IDs are not an
// error.
func (p *Persister) Delete(ctx context.Context, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return wrapErr("delete", "", err)
	}
	if len(ids) == 0 {
		return nil
	}
	byShard := map[int][]any{}
	for _, id := range ids {
		k := shardOf(id, len(p.shards))
		if byShard[k] == nil {
			byShard[k] = []any{p.shards[k].base}
		}
		byShard[k] = append(byShard[k], id)
	}
	calls := make([]call, 0, len(byShard))
	for k, args := range byShard {
		calls = append(calls, call{keys: []string{p.shards[k].expiry}, args: args})
	}
	if _, err := p.eval(writeContext{ctx}, deleteScript, calls); err != nil {
		return wrapErr("delete", "", err)
	}
	return nil
}

// userCalls returns the runs of a script over userID's indexes: one over
// every shard on a single server, one per shard on a cluster. Each run's
// arguments are lead, then the bases of its shards, then tail.
func (p *Persister) userCalls(userID string, lead []any, tail []string) []call {
	group := func(shards []shard) call {
		c := call{keys: make([]string, len(shards)), args: make([]any, 0, len(lead)+len(shards)+len(tail))}
		c.args = append(c.args, lead...)
		for i := range shards {
			c.keys[i] = shards[i].user(userID)
			c.args = append(c.args, shards[i].base)
		}
		for _, v := range tail {
			c.args = append(c.args, v)
		}
		return c
	}
	if p.single {
		return []call{group(p.shards)}
	}
	calls := make([]call, len(p.shards))
	for k := range p.shards {
		calls[k] = group(p.shards[k : k+1])
	}
	return calls
}

// ListByUser returns userID's records, newest UpdatedAt first and ties in
// ascending ID order, Data left out.
func (p *Persister) ListByUser(ctx context.Context, userID string) ([]qsessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapErr("list", "", err)
	}
	// The scripts repair the indexes: they write, so they run to the end.
	replies, err := p.eval(writeContext{ctx}, listScript, p.userCalls(userID, []any{userID}, nil))
	if err != nil {
		return nil, wrapErr("list", "", err)
	}
	var recs []qsessions.Record
	for _, reply := range replies {
		f, _ := reply.([]any)
		for i := 0; i+5 <= len(f); i += 5 {
			id, _ := f[i].(string)
			r, err := parseRecord(id, f[i+1], userID, f[i+2], f[i+3], f[i+4])
			if err != nil {
				return nil, wrapErr("list", id, err)
			}
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, listorder.Compare)
	return recs, nil
}

// DeleteByUser removes userID's records, except those whose ID is listed
// in except, and returns the IDs it removed.
func (p *Persister) DeleteByUser(ctx context.Context, userID string, except ...string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapErr("delete by user", "", err)
	}
	calls := p.userCalls(userID, []any{userID, p.nonce()}, except)
	replies, err := p.eval(writeContext{ctx}, deleteUserScript, calls)
	var ids []string
	for _, reply := range replies {
		f, _ := reply.([]any)
		for _, v := range f {
			if id, ok := v.(string); ok {
				ids = append(ids, id)
			}
		}
	}
	if err != nil {
		return ids, wrapErr("delete by user", "", err)
	}
	return ids, nil
}

// DeleteExpired removes the records whose ExpiresAt is before the given
// time, at most Options.DeleteBatch in each script, shard by shard, and
// returns how many it removed.
func (p *Persister) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, wrapErr("delete expired", "", err)
	}
	// Records are stored to the millisecond: those before the cut-off are
	// those before it rounded up to a millisecond.
	cut := before.UnixMilli()
	if before.Sub(time.UnixMilli(cut)) > 0 {
		cut++
	}
	cutArg, limit := strconv.FormatInt(cut, 10), strconv.Itoa(p.batch)
	n := 0
	for k := range p.shards {
		s := &p.shards[k]
		for {
			if err := ctx.Err(); err != nil {
				return n, wrapErr("delete expired", "", err)
			}
			res, err := sweepScript.Run(writeContext{ctx}, p.client, []string{s.expiry}, s.base, cutArg, limit, p.nonce()).Int64Slice()
			if err == nil && len(res) != 2 {
				err = fmt.Errorf("unexpected reply %v", res)
			}
			if err != nil {
				return n, wrapErr("delete expired", "", err)
			}
			n += int(res[0])
			if int(res[1]) < p.batch {
				break
			}
		}
	}
	return n, nil
}
