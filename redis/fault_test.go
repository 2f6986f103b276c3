package redis_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Redis is killed (SIGKILL: no shutdown save) in the middle of a write
// load and started again on the same files. While it is down, requests
// fail with 500, never as a signed-out session. What the restart loses
// depends on persistence: with AOF and appendfsync always, nothing that
// was acknowledged; the test reports the others' losses.
func TestRestart(t *testing.T) {
	for _, c := range []struct {
		name     string
		args     []string
		lossless bool
		snapshot bool // SAVE 300 ms before the kill
	}{
		{"AOFAlways", []string{"--appendonly", "yes", "--appendfsync", "always", "--save", ""}, true, false},
		{"AOFEverysec", []string{"--appendonly", "yes", "--appendfsync", "everysec", "--save", ""}, false, false},
		// Snapshots only: the kill comes 300 ms after the last one.
		{"RDB", []string{"--appendonly", "no", "--save", "3600 1"}, false, true},
		{"None", []string{"--appendonly", "no", "--save", ""}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startServer(t, c.args...)
			client := srv.client(&goredis.Options{
				DialTimeout:  200 * time.Millisecond,
				ReadTimeout:  500 * time.Millisecond,
				WriteTimeout: 500 * time.Millisecond,
				MaxRetries:   1,
				// One dial attempt per command, so that requests fail
				// while the server is down rather than wait for it.
				DialerRetries:      1,
				DialerRetryTimeout: time.Millisecond,
			})
			app := newAppServer(t, "app", client, newPrefix(t, client), "", nil)
			res := faultLoad(t, app, 500*time.Millisecond, func() {
				if c.snapshot {
					if err := client.Save(context.Background()).Err(); err != nil {
						t.Errorf("SAVE: %v", err)
					}
					time.Sleep(300 * time.Millisecond)
				}
				srv.kill()
				time.Sleep(300 * time.Millisecond)
			}, func() {
				srv.start()
				// go-redis backs off dialling after failed dials: wait
				// for the app's client to reconnect.
				for deadline := time.Now().Add(10 * time.Second); app.client.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the app's client did not reconnect within 10 s")
					}
				}
			})
			t.Logf("%s: %d writes acknowledged, %d failed while Redis was down (the client back %v after the kill); after the restart %d of %d sessions were gone "+
				"and %d of the %d sessions left had lost acknowledged writes (%d writes in all)",
				c.name, res.acked, res.failed, res.down.Round(time.Millisecond), res.sessionsGone, res.sessions,
				res.sessionsBehind, res.sessions-res.sessionsGone, res.writesLost)
			if res.failed == 0 {
				t.Errorf("no request failed while Redis was down")
			}
			if c.lossless && (res.sessionsGone > 0 || res.writesLost > 0) {
				t.Errorf("with appendfsync always, the restart lost %d sessions and %d acknowledged writes; want none",
					res.sessionsGone, res.writesLost)
			}
		})
	}
}

type faultResult struct {
	acked, failed              int64
	down                       time.Duration // from the fault until the service was back
	sessions, sessionsGone     int
	sessionsBehind, writesLost int
}

// faultLoad runs eight writers, each on sessions of its own, for before;
// then, with the writers going, calls fault (which breaks Redis: a
// session must not load as new meanwhile); then pauses the writers, calls
// recover (which returns once the service is back), compares what Redis
// stores with what was acknowledged, and lets the writers go on for a
// while, checking that writes go through again.
func faultLoad(t *testing.T, app *appServer, before time.Duration, fault, recover func()) faultResult {
	const sessions = 32
	tokens := make([]string, sessions)
	for i := range tokens {
		tok, _, err := app.newSession("", 0)
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok
	}
	var (
		acked   [sessions]atomic.Int64 // the last value each session acknowledged
		gone    [sessions]atomic.Bool  // lost by the fault
		nAcked  atomic.Int64
		nFailed atomic.Int64
		down    atomic.Bool
		gate    sync.RWMutex // held by each request; Lock pauses the writers
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	locked := false
	// However the test ends (a t.Fatal in fault or recover included), the
	// writers stop before it does.
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		if locked {
			gate.Unlock()
		}
		wg.Wait()
	}()
	for w := range 8 {
		wg.Go(func() {
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := w + 8*(n%(sessions/8))
				if gone[i].Load() {
					time.Sleep(time.Millisecond)
					continue
				}
				v := acked[i].Load() + 1
				gate.RLock()
				code, body, _, err := app.do("POST", "/set", url.Values{"key": {"n"}, "n": {strconv.FormatInt(v, 10)}}, tokens[i])
				gate.RUnlock()
				switch {
				case err != nil:
					t.Errorf("request: %v", err)
					return
				case code == http.StatusOK:
					acked[i].Store(v)
					nAcked.Add(1)
				case (code == http.StatusGone || code == http.StatusUnauthorized) && !down.Load():
					// The fault lost the session: loaded as new (410), or
					// loaded before and refused at the save (401).
					gone[i].Store(true)
				case code == http.StatusGone || code == http.StatusUnauthorized:
					t.Errorf("session %d: %d while Redis was failing: a silent sign-out", i, code)
					return
				case code == http.StatusInternalServerError:
					nFailed.Add(1)
				default:
					t.Errorf("request: %d %q", code, body)
					return
				}
			}
		})
	}
	time.Sleep(before)
	down.Store(true)
	start := time.Now()
	fault()
	// Pause the writers, so that what the fault lost is measured before
	// they write over it.
	gate.Lock()
	locked = true
	down.Store(false) // a 410 or 401 from here on shows what the fault lost
	recover()
	res := faultResult{down: time.Since(start), sessions: sessions}
	res.acked, res.failed = nAcked.Load(), nFailed.Load()

	// Every session as Redis has it now, against what was acknowledged. A
	// stored value may be ahead: a write that Redis made but whose reply
	// the fault cut off failed with 500.
	for i, tok := range tokens {
		code, body, _, err := app.do("GET", "/get", url.Values{"key": {"n"}}, tok)
		for deadline := time.Now().Add(5 * time.Second); err == nil && code == http.StatusInternalServerError && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond) // a client still finding its way
			code, body, _, err = app.do("GET", "/get", url.Values{"key": {"n"}}, tok)
		}
		switch {
		case err != nil:
			t.Fatal(err)
		case code == http.StatusGone:
			res.sessionsGone++
			gone[i].Store(true)
			continue
		case code != http.StatusOK:
			t.Errorf("session %d after the fault: %d %q", i, code, body)
			continue
		}
		got, _ := strconv.ParseInt(body, 10, 64)
		if want := acked[i].Load(); got < want {
			res.sessionsBehind++
			res.writesLost += int(want - got)
			acked[i].Store(got)
		}
	}

	// The writers go on where Redis left them.
	ackedBefore := nAcked.Load()
	gate.Unlock()
	locked = false
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if res.sessionsGone < sessions && nAcked.Load() == ackedBefore {
		t.Errorf("no write acknowledged after the fault")
	}
	return res
}
