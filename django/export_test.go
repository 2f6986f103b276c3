package django

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// RawSession returns the dict that the session_data of key's row signs,
// without verifying the user, and Go's state in it (nil when none).
func (p *Persister) RawSession(ctx context.Context, key string) (dict map[string]json.RawMessage, state map[string]json.RawMessage, err error) {
	r, found, err := p.readRow(ctx, key)
	if err != nil || !found {
		return nil, nil, errors.Join(err, errors.New("no row"))
	}
	payload, err := p.sign.decode(r.data)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(payload, &dict); err != nil {
		return nil, nil, err
	}
	if raw, ok := dict[goKey]; ok {
		if err := json.Unmarshal(raw, &state); err != nil {
			return nil, nil, err
		}
	}
	return dict, state, nil
}

// DjangoWrite does to key's row what a Django request's save does: it
// reads the session (as Django's load does: the dict as it is), sets and
// deletes values, and writes it back with a plain UPDATE that compares
// nothing, expire_date at now plus SESSION_COOKIE_AGE (or the session's own
// age), updated_at at now. Django's session JSON is what Python writes:
// pythonObject's.
func (p *Persister) DjangoWrite(ctx context.Context, key string, set map[string]any, del ...string) error {
	r, found, err := p.readRow(ctx, key)
	if err != nil || !found {
		return errors.Join(err, errors.New("no row"))
	}
	payload, err := p.sign.decode(r.data)
	if err != nil {
		return err
	}
	var dict map[string]json.RawMessage
	if err := json.Unmarshal(payload, &dict); err != nil {
		return err
	}
	for k, v := range set {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if dict[k], err = toPython(nil, b); err != nil {
			return err
		}
	}
	for _, k := range del {
		delete(dict, k)
	}
	for k, v := range dict {
		if dict[k], err = toPython(nil, v); err != nil {
			return err
		}
	}
	now := time.Now()
	age := p.age
	if secs, ok := jsonInt(dict[keyExpiry]); ok && secs > 0 {
		age = time.Duration(secs) * time.Second
	}
	data := p.sign.encode(pythonObject(dict), now)
	q := "UPDATE " + p.table + " SET session_data = $1, expire_date = $2 WHERE session_key = $3"
	args := []any{data, p.db.timeArg(now.Add(age)), key}
	if p.flavour == QSessions {
		q = "UPDATE " + p.table + " SET session_data = $1, expire_date = $2, updated_at = $4 WHERE session_key = $3"
		args = append(args, p.db.timeArg(now))
	}
	n, err := p.db.exec(ctx, q, args...)
	if err == nil && n == 0 {
		err = errors.New("no row")
	}
	return err
}
