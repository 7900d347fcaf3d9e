package admin

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the file in the data directory that holds the generated
// admin token.
const TokenFile = "admin-token"

// minTokenLen keeps a configured token from being guessable in a few
// thousand tries; a generated one has 256 bits.
const minTokenLen = 16

// LoadToken returns the admin token: the configured one if set, else the
// one in <dataDir>/admin-token, else a new random token written there with
// mode 0600 so that only the daemon's user can read it. generated tells
// whether the file was just written.
func LoadToken(configured, dataDir string) (token string, generated bool, err error) {
	if configured != "" {
		if len(configured) < minTokenLen {
			return "", false, fmt.Errorf("admin: adminToken is shorter than %d characters", minTokenLen)
		}
		return configured, false, nil
	}
	path := filepath.Join(dataDir, TokenFile)
	token, err = readToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return token, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("admin: %w", err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", false, fmt.Errorf("admin: generating a token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(buf)
	// O_EXCL: if another process wrote the file meanwhile, use its token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		token, err = readToken(path)
		return token, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("admin: writing the token: %w", err)
	}
	_, err = f.WriteString(token + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a half-written token would lock the administrator out
		return "", false, fmt.Errorf("admin: writing the token: %w", err)
	}
	return token, true, nil
}

func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("admin: token file %s is readable by other users (mode %04o); run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if len(token) < minTokenLen {
		return "", fmt.Errorf("admin: token file %s holds fewer than %d characters; delete it to have a new token generated", path, minTokenLen)
	}
	return token, nil
}
