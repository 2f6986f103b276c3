package qsessions_test

import (
	"context"
	"fmt"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// Outside HTTP, Load and Save work with the token directly.
func ExampleStore_Load() {
	ctx := context.Background()
	st, _ := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)

	s, _ := st.Load(ctx, "") // no token: a new session
	s.Set("cart", []string{"book", "pen"})
	if err := st.Save(ctx, s); err != nil {
		panic(err)
	}
	token := s.Token() // what a cookie would carry

	again, _ := st.Load(ctx, token)
	var cart []string
	ok, _ := again.Get("cart", &cart)
	fmt.Println(ok, cart, again.IsNew())

	st.Revoke(ctx, again.ID())
	gone, _ := st.Load(ctx, token)
	fmt.Println(gone.IsNew())
	// Output:
	// true [book pen] false
	// true
}

// The clearsessions job: remove expired sessions in batches.
func ExampleStore_DeleteExpired() {
	ctx := context.Background()
	st, _ := qsessions.New(nil, memory.NewPersister(), nil)
	s, _ := st.Load(ctx, "")
	s.Set("k", "v")
	s.SetMaxAge(-1) // already over
	st.Save(ctx, s)

	n, err := st.DeleteExpired(ctx)
	fmt.Println(n, err)
	// Output: 0 <nil>
}

func ExampleLocation_String() {
	fmt.Printf("%q\n", qsessions.Location{City: "Berlin", Country: "Germany"})
	fmt.Printf("%q\n", qsessions.Location{Country: "Germany"})
	fmt.Printf("%q\n", qsessions.Location{})
	// Output:
	// "Berlin, Germany"
	// "Germany"
	// ""
}

func ExampleDevice() {
	d := qsessions.Device{Browser: "Chrome Mobile", BrowserName: "Chrome", BrowserVersion: "118.0.0", OS: "Android", OSVersion: "10", Family: "K"}
	fmt.Println(d)
	fmt.Println(d.Friendly())
	fmt.Println(qsessions.Device{Browser: "Chrome", OS: "Mac OS X"}.Friendly())
	fmt.Println(qsessions.Device{Browser: "Chrome", OS: "Mac OS X", OSName: "macOS"}.Friendly())
	// Output:
	// K / Android 10 / Chrome Mobile 118.0.0
	// Chrome on Android
	// Chrome on Mac OS X
	// Chrome on macOS
}
