// Package dbsc binds qsessions sessions to the devices that use them, with
// Device Bound Session Credentials (DBSC, a W3C WebAppSec draft), so that a
// stolen session cookie is worth nothing away from the device it was
// stolen from.
//
// Create a [Binder] with [New] over your *qsessions.Store, put its [Binder.Guard]
// behind Store.Middleware, and call [Binder.Offer] on the response to a
// sign-in:
//
//	binder, err := dbsc.New(st, nil)
//	http.ListenAndServe(addr, st.Middleware(binder.Guard(mux)))
//
//	func signIn(w http.ResponseWriter, r *http.Request) {
//		s := qsessions.FromContext(r.Context())
//		if err := s.Login(r.Context(), userID); err != nil { … }
//		binder.Offer(w, r) // ask the browser to bind the session to a key
//		http.Redirect(w, r, "/", http.StatusSeeOther)
//	}
//
// Guard also serves the two endpoints of the protocol, under
// Options.Path (default "/dbsc/register" and "/dbsc/refresh"); use
// [Binder.ServeHTTP] to mount them elsewhere. Both must be reachable
// without a bound cookie, and both must be same-site with your pages.
//
// # How it works
//
// Offer adds a Secure-Session-Registration header to the sign-in response.
// A browser that supports DBSC makes a key pair for the session (in the
// TPM, on Windows), and posts a proof signed with it to the registration
// endpoint. The Binder stores the public key with the session and answers
// with the session's instructions and a short-lived bound cookie (ten
// minutes by default). From then on the browser holds back any request to
// the site that would go without a valid bound cookie, asks the refresh
// endpoint for a challenge, signs it, and gets a new bound cookie; then the
// request goes.
//
// Guard refuses a request of a bound session that lacks a valid bound
// cookie. A thief who copied the session cookie has no bound cookie, and
// cannot get one without the key; a thief who copied both has a bound
// cookie that is dead within minutes. What the guard does with such a
// request is Options.Unverified: by default (Refuse) it answers 401, as for
// a revoked session, without running the handler and without writing
// anything; Downgrade runs the handler with a fresh, anonymous session
// instead, as if the session had been revoked, and leaves the stored
// session as it is (the response deletes the session cookie of the browser
// that sent it, if the handler uses the session).
//
// A session that registered stays bound: it never falls back to its plain
// cookie, even if the browser loses its key. The user signs in again.
// Session.Reauthenticate and Session.Rotate give the session a new ID and
// keep it bound (the browser goes on refreshing under the identifier it
// registered with); a Login of another user starts a new, unbound session,
// which Offer offers for binding again. On a sessions page,
// qsessions.SessionInfo.DeviceBound tells the bound sessions.
//
// Guard reads the session of every request it passes, to know whether it
// is bound, whether the handler uses the session or not. For a bound
// session the check costs well under a microsecond and no allocation.
//
// # Browsers
//
// Chrome supports DBSC on Windows, on by default since Chrome 146 (April
// 2026), with the key in the TPM; Google has announced macOS for a later
// release. Other browsers (Firefox, Safari, Chrome elsewhere or without a
// TPM) ignore the registration header: their sessions stay unbound and
// work exactly as before, with the plain session cookie. Nothing changes
// for them.
//
// The package is tested with a browser written from the draft, with
// crypto/ecdsa and crypto/rsa holding its key, over real HTTP and a real
// Store, and with a real headless Chromium (cmd/qsessions's
// TestBrowserDBSC): started with
// --enable-features=DeviceBoundSessions,EnableBoundSessionCredentialsSoftwareKeysForManualTesting
// (software keys stand in for the TPM, ES256 only), over HTTPS on
// localhost with the certificate accepted through
// --ignore-certificate-errors-spki-list (--ignore-certificate-errors turns
// DBSC off, and plain HTTP gets none), it registers, refreshes on its own,
// and its cookies replayed elsewhere are refused. `qsessions demo --dbsc`
// prints that command line.
//
// Chromium does not hold back the page that a sign-in redirects to while
// it registers. When the registration is stored first, that page's
// request belongs to a bound session and carries no bound cookie yet: in
// the ten seconds after a registration, Guard answers such a request
// (one without any bound cookie) 503 with Retry-After and, for a page, a
// page that reloads itself, instead of refusing it as signed out. It is
// not served either way.
//
// # What is stored
//
// A session's binding state (the public key, the hashes of its valid bound
// cookies, and which challenges it has used) is an opaque, versioned blob
// of a few hundred bytes that the Store keeps beside the session (in the
// record's Meta), never inside its values, and updates by
// compare-and-swap, in the Store's one read-modify-write loop, so a
// concurrent write of the session cannot undo it, nor a refresh undo a
// write of the values. A
// session is bound exactly when its blob is non-empty; see [Bound]. A
// refresh changes the blob and nothing else.
//
// Challenges are not stored. Each carries its issue time under an HMAC keyed
// with Options.Secret; the binding records the issue time of the last one
// it accepted, and accepts only later ones, so every proof is good once. Set
// the same Secret on every server that serves the endpoints.
//
// # Protocol notes
//
// The endpoints answer as the draft defines: 200 with the session's
// instructions for a good proof; 403 with a fresh Secure-Session-Challenge
// for a refresh without a proof, or with one that does not do (another key,
// a challenge that is stale, used, or another session's), which asks the
// browser to sign again; 400 for a malformed request (no or several proofs,
// bad encoding, an algorithm other than the session's, "none", HMAC, a key
// in a refresh proof, oversized input), which ends the browser's session;
// and "continue": false for a session that is gone. A refused request
// changes nothing.
//
// Chrome sends Secure-Session-Response and Sec-Secure-Session-Id as bare
// values, where the draft has sf-strings; both forms are accepted.
package dbsc
