package turnserver

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is defined with HMAC-SHA1
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors of [ParseUsername].
var (
	// ErrBadUsername is a username that is not "expiry:user".
	ErrBadUsername = errors.New("turnserver: username is not expiry:user")
	// ErrExpired is a username whose expiry has passed.
	ErrExpired = errors.New("turnserver: credentials expired")
)

// Credentials mints TURN credentials of the TURN REST scheme (the
// time-limited credentials that coturn's use-auth-secret checks) for user,
// valid until now+lifetime: username is "expiry:user" with expiry in Unix
// seconds, password is base64(HMAC-SHA1(secret, username)). The password
// is the long-term credential of RFC 8489 section 9.2.
func Credentials(secret, user string, lifetime time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(lifetime).Unix(), 10) + ":" + user

	return username, Password(secret, username)
}

// Password is the TURN REST password of username: base64(HMAC-SHA1(secret,
// username)).
func Password(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))

	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ParseUsername splits a TURN REST username "expiry:user" and checks its
// expiry against now. It returns [ErrBadUsername] or [ErrExpired] (with
// the user) when the username cannot open an allocation.
func ParseUsername(username string, now time.Time) (user string, expiry time.Time, err error) {
	exp, user, ok := strings.Cut(username, ":")
	if !ok || user == "" {
		return "", time.Time{}, ErrBadUsername
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || secs <= 0 {
		return "", time.Time{}, ErrBadUsername
	}
	expiry = time.Unix(secs, 0)
	if !now.Before(expiry) {
		return user, expiry, ErrExpired
	}

	return user, expiry, nil
}
