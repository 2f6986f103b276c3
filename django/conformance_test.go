package django_test

import (
	"context"
	"path"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/django"
)

var flavours = []django.Table{django.QSessions, django.DjangoSessions}

// conformanceOptions are the Options of the conformance runs: the suite's
// user IDs are nobody in a user table, and the Django cache is in Redis
// when there is one.
func conformanceOptions(t *testing.T, flavour django.Table, schema string) *django.Options {
	cache, _, prefix := djangoCache(t)
	return &django.Options{
		Logger:         testLogger(t),
		SecretKey:      testSecret,
		Table:          flavour,
		Schema:         schema,
		NoUserTable:    true,
		Cache:          cache,
		CacheKeyPrefix: prefix,
	}
}

// TestConformanceSQLite runs the Persister suite over Django's tables on
// SQLite, exactly as Django creates them (SQLite does not enforce
// varchar(40) nor the integer type of user_id).
func TestConformanceSQLite(t *testing.T) {
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
				p, err := django.NewSQLite(context.Background(), sqliteDB(t, flavour, false), conformanceOptions(t, flavour, ""))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return p
			})
		})
	}
}

// TestConformancePostgres runs the Persister suite over Django's tables on
// PostgreSQL, widened (see widen) where they cannot hold the suite's
// records: its IDs are 43 characters, its user IDs not numbers.
func TestConformancePostgres(t *testing.T) {
	pgPool(t)
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
				pool, schema := pgSchema(t, flavour, false, true)
				p, err := django.NewPostgres(context.Background(), pool, conformanceOptions(t, flavour, schema))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return p
			})
		})
	}
}

// wrapsPersister lists the Store subtests that run a Store over a wrapper
// of the Persister (to pause it, or to play a rival process). The wrapper
// does not forward internal/keys.Plain, so that Store hashes the session
// keys that the others use as they are, and finds none of their sessions:
// the subtest cannot run over a Persister whose keys are plain. What they
// check is checked here by TestRacingWrites and by the race of TestDjangoInterop.
var wrapsPersister = map[string]bool{"StaleFill": true, "RevokeDuringFill": true, "Contention": true}

func skipWrapped(t *testing.T) {
	if wrapsPersister[path.Base(t.Name())] {
		t.Skip("the suite wraps the Persister in a type that hides internal/keys.Plain: " +
			"the wrapped Store cannot read plain session keys")
	}
}

// TestConformanceStoreSQLite runs the Store suite over Django's tables on
// SQLite, as Django creates them, without a Go cache (a Go cache would not
// see Django's writes).
func TestConformanceStoreSQLite(t *testing.T) {
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
				skipWrapped(t)
				p, err := django.NewSQLite(context.Background(), sqliteDB(t, flavour, false), conformanceOptions(t, flavour, ""))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return nil, p
			})
		})
	}
}

// TestConformanceStorePostgres runs the Store suite over Django's tables
// on PostgreSQL: django_session as Django creates it, qsessions_session
// with a user_id that holds the suite's user IDs, which are not numbers.
func TestConformanceStorePostgres(t *testing.T) {
	pgPool(t)
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
				skipWrapped(t)
				pool, schema := pgSchema(t, flavour, false, flavour == django.QSessions)
				p, err := django.NewPostgres(context.Background(), pool, conformanceOptions(t, flavour, schema))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return nil, p
			})
		})
	}
}
