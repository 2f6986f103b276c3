package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/memory"
)

// A FaultyCache takes a cache down and brings it back, to check that a
// Store keeps working from its Persister meanwhile.
func ExampleFaultyCache() {
	ctx := context.Background()
	cache := conformance.NewFaultyCache(memory.NewCache())
	st, err := qsessions.New(cache, memory.NewPersister(), &qsessions.Options{
		Logger: slog.New(slog.DiscardHandler), // the Store logs cache faults
	})
	if err != nil {
		panic(err)
	}

	cache.Fail(conformance.OpAll) // the cache is down
	s, _ := st.Load(ctx, "")
	s.Set("cart", []string{"apple"})
	if err := st.Save(ctx, s); err != nil {
		panic(err)
	}
	again, err := st.Load(ctx, s.Token())
	var cart []string
	again.Get("cart", &cart)
	fmt.Println("during the outage:", cart, err, cache.Injected() > 0)

	_, err = cache.Get(ctx, "any key")
	fmt.Println(errors.Is(err, conformance.ErrInjected))

	cache.Fail(conformance.OpNone) // back up
	err = cache.Set(ctx, "key", []byte("value"), time.Minute)
	fmt.Println("after it:", err)
	// Output:
	// during the outage: [apple] <nil> true
	// true
	// after it: <nil>
}
