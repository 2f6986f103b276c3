package dbsc_test

import (
	"fmt"

	"github.com/qsessions/qsessions/dbsc"
)

// Bound tells from a session's binding state, as its Store keeps it,
// whether a browser bound the session to a key: the "device-bound" badge of
// a sessions page.
func ExampleBound() {
	var unbound []byte // a session signed in from Firefox
	fmt.Println(dbsc.Bound(unbound))
	bound := []byte(`{"v":1}`) // whatever the Binder wrote at registration
	fmt.Println(dbsc.Bound(bound))
	// Output:
	// false
	// true
}
