package django

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	fuzzKey    = "django-insecure-vector-secret-#1" // the vectors' SECRET_KEY
	fuzzOldKey = "django-insecure-rotated-away-secret"
)

// signedByKey says, computed afresh from Django's definitions, whether
// data carries a valid signature under key: signing.dumps' (the HMAC of
// everything before the last ':' under the salt + "signer") with SHA-256
// or SHA-1, or the pre-3.1 format's (base64 of the hex SHA-1 HMAC of the
// JSON, ':' and the JSON).
func signedByKey(data, key string, legacy bool) bool {
	mac := func(h func() hash.Hash, salt string, msg []byte) []byte {
		k := h()
		io.WriteString(k, salt+key)
		m := hmac.New(h, k.Sum(nil))
		m.Write(msg)
		return m.Sum(nil)
	}
	if i := strings.LastIndex(data, ":"); i >= 0 {
		for _, h := range []func() hash.Hash{sha256.New, sha1.New} {
			want := base64.RawURLEncoding.EncodeToString(mac(h, "django.contrib.sessions.SessionStoresigner", []byte(data[:i])))
			if data[i+1:] == want {
				return true
			}
		}
	}
	if raw, err := base64.StdEncoding.DecodeString(data); legacy && err == nil {
		if i := bytes.IndexByte(raw, ':'); i >= 0 {
			return string(raw[:i]) == hex.EncodeToString(mac(sha1.New, "django.contrib.sessionsSessionStore", raw[i+1:]))
		}
	}
	return false
}

// The decoder never panics, and accepts nothing that is not validly signed
// with one of its keys (the pre-3.1 format: with SECRET_KEY only).
func FuzzDecode(f *testing.F) {
	for _, c := range loadVectors(f).Sessions {
		f.Add(c.SessionData)
	}
	f.Add(".eJyrVkpUslJKVKoFAA:1vb66i:x")
	s := newSigner([]string{fuzzKey, fuzzOldKey})
	f.Fuzz(func(t *testing.T, data string) {
		payload, err := s.decode(data)
		if err != nil {
			return
		}
		if !signedByKey(data, fuzzKey, true) && !signedByKey(data, fuzzOldKey, false) {
			t.Fatalf("decode accepted %q, which is not validly signed", data)
		}
		if !isJSONObject(payload) {
			t.Fatalf("decode of %q returned %q, which is no JSON object", data, payload)
		}
	})
}

// Re-encoding keeps every JSON value as it is: Python's form is ASCII,
// and both forms decode to the same value; Go's form of either is the same.
func FuzzPythonJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `"caf\u00e9 \ud83d\ude00 <&> \u2028"`, `[1.5e300,-0.0,null,true,{"":{}}]`,
		"\"\xff\xfe\"", `"\ud800"`, `{"a" : [ 1 , 2 ] }`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			if _, err := toPython(nil, raw); err == nil {
				t.Fatalf("toPython accepted invalid JSON %q", raw)
			}
			return
		}
		py, err := toPython(nil, raw)
		if err != nil {
			t.Fatalf("toPython(%q): %v", raw, err)
		}
		if !isASCII(py) || !json.Valid(py) {
			t.Fatalf("toPython(%q) = %q: not ASCII JSON", raw, py)
		}
		goRaw, err1 := toGo(nil, raw)
		goPy, err2 := toGo(nil, py)
		if err1 != nil || err2 != nil || !bytes.Equal(goRaw, goPy) {
			t.Fatalf("toGo(%q) = %q, %v; toGo(toPython) = %q, %v", raw, goRaw, err1, goPy, err2)
		}
		if a, b := decodeAny(t, raw), decodeAny(t, py); !reflect.DeepEqual(a, b) {
			t.Fatalf("toPython(%q) = %q changed the value: %#v, %#v", raw, py, a, b)
		}
	})
}

func decodeAny(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return v
}

// A validly signed session_data holding any JSON object maps to a Record
// without a panic, and a Record made from it maps back.
func FuzzDecodeRow(f *testing.F) {
	for _, s := range []string{`{}`, `{"_auth_user_id":"1","_session_expiry":60,"a":[1]}`, `{"_qsessions_go":{"v":3,"s":"x","m":"AQ=="}}`,
		`{"_qsessions_go":7,"_auth_user_id":{"x":1},"_session_expiry":"soon"}`, `{"_session_expiry":0}`,
		`{"_qsessions_go":{"v":1,"d":"!!"},"_auth_user_hash":null}`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, qsessions bool) {
		if !isJSONObject(payload) {
			return
		}
		py, err := toPython(nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		p := &Persister{
			db: sqliteDialect{loc: time.UTC}, sign: newSigner([]string{fuzzKey}), age: DefaultSessionCookieAge,
			log: slog.New(slog.DiscardHandler), backend: DefaultAuthBackend,
		}
		if !qsessions {
			p.flavour = DjangoSessions
		}
		now := time.Now().UTC()
		r := row{key: "k", data: p.sign.encode(py, now), expire: now.Add(time.Hour), updated: now, hasUpdated: qsessions}
		d, err := p.decodeRow(&r)
		if err != nil {
			return
		}
		if len(d.rec.Data) > 0 && d.rec.Data[0] == '{' && !json.Valid(d.rec.Data) {
			t.Fatalf("Data %q is no JSON", d.rec.Data)
		}
		w, err := p.encodeRow(t.Context(), &d.rec, d.rec.Version+1, &d, now)
		if err != nil {
			return // values Django keeps for itself, say
		}
		back := row{key: "k", data: w.data, expire: w.expire, updated: w.updated, hasUpdated: qsessions}
		d2, err := p.decodeRow(&back)
		if err != nil {
			t.Fatalf("a row Go wrote does not decode: %v", err)
		}
		if d2.rec.Version != d.rec.Version+1 || !bytes.Equal(d2.rec.Data, d.rec.Data) || !bytes.Equal(d2.rec.Meta, d.rec.Meta) {
			t.Fatalf("round trip: %+v\nbecame %+v", d.rec, d2.rec)
		}
	})
}
