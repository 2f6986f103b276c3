// Package memory provides in-memory implementations of [qsessions.Cache] and
// [qsessions.Persister]: the reference implementations that the conformance
// suite is checked against, and a zero-setup backend for tests, examples and
// single-process programs.
//
// Use [NewCache] and [NewPersister]:
//
//	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)
//
// # Limits
//
// Everything lives in the process's heap and is lost when it exits: a
// memory Persister is durable only for the lifetime of the process, and two
// processes never see each other's sessions. The Cache has no size bound;
// expired entries are misses when read, and are dropped by an occasional sweep during
// Set, so memory use follows the number of live sessions. Both types are
// safe for concurrent use, copy every value in and out, and honour context
// cancellation.
package memory
