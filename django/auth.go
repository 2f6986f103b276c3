package django

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

var sha256New = sha256.New

// A userTable is the table of the site's user model, as far as sessions
// need it: the password field, which the session auth hash signs, and
// is_active, which Django's ModelBackend checks.
type userTable struct {
	table  string // quoted, qualified
	active bool   // the table has is_active
	idCast string // how id takes a text parameter "?"
}

// A user is one row of the user table.
type user struct {
	password string
	active   bool
}

// lookupUser returns the user with the given primary key, or nil when
// there is none (or id cannot be one).
func (p *Persister) lookupUser(ctx context.Context, id string) (*user, error) {
	var u *user
	rows, err := p.db.query(ctx, p.q.user, id)
	if err == nil {
		for rows.Next() {
			var active sql.NullBool
			u = &user{}
			if err = rows.Scan(&u.password, &active); err != nil {
				break
			}
			u.active = !active.Valid || active.Bool
		}
		err = errors.Join(err, rows.Close())
	}
	switch {
	case err != nil && p.db.badValue(err):
		return nil, nil // an ID the key's type cannot hold: nobody
	case err != nil:
		return nil, fmt.Errorf("look up user: %w", err)
	}
	return u, nil
}

// errUserCheck reports a session that Django's get_user would not accept:
// Load treats it as no session.
var errUserCheck = errors.New("django: the session's user is gone, inactive, or changed password")

// A userChecker checks sessions' users against the user table, looking
// each user up once.
type userChecker struct {
	p     *Persister
	users map[string]*user
}

// check returns nil when Django would accept d's user: no user, or one
// that exists, is active and whose password field d's _auth_user_hash
// signs (django.contrib.auth.get_user, which otherwise flushes the
// session, and ModelBackend.user_can_authenticate).
func (c *userChecker) check(ctx context.Context, d *decoded) error {
	uid := d.rec.UserID
	if c.p.users == nil || uid == "" {
		return nil
	}
	u, ok := c.users[uid]
	if !ok {
		var err error
		if u, err = c.p.lookupUser(ctx, uid); err != nil {
			return err
		}
		if c.users == nil {
			c.users = map[string]*user{}
		}
		c.users[uid] = u
	}
	if u == nil || !u.active || !c.p.sign.verifyAuthHash(d.hash, u.password) {
		return errUserCheck
	}
	return nil
}

// userQuery returns the SQL that reads a user.
func (t *userTable) query() string {
	active := "NULL"
	if t.active {
		active = "is_active"
	}
	return "SELECT password, " + active + " FROM " + t.table + " WHERE id = " + strings.ReplaceAll(t.idCast, "?", "$1")
}
