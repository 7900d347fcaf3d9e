package cucmapi

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

// PasswordFile is the file in the data directory that holds the generated
// password of the application user administrator.
const PasswordFile = "app-password"

const minPasswordLen = 8

// LoadAppPassword returns the password of the default application user:
// the configured one if set, else the one in <dataDir>/app-password, else
// a new random one written there with mode 0600. generated tells whether
// the file was just written.
func LoadAppPassword(configured, dataDir string) (password string, generated bool, err error) {
	if configured != "" {
		if len(configured) < minPasswordLen {
			return "", false, fmt.Errorf("cucmapi: appPassword is shorter than %d characters", minPasswordLen)
		}
		return configured, false, nil
	}
	path := filepath.Join(dataDir, PasswordFile)
	password, err = readPassword(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return password, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("cucmapi: %w", err)
	}
	buf := make([]byte, 18)
	if _, err := rand.Read(buf); err != nil {
		return "", false, fmt.Errorf("cucmapi: generating a password: %w", err)
	}
	password = base64.RawURLEncoding.EncodeToString(buf)
	if err := writeNew(path, []byte(password+"\n"), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process wrote it meanwhile
			password, err = readPassword(path)
			return password, false, err
		}
		return "", false, err
	}
	return password, true, nil
}

func readPassword(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("cucmapi: password file %s is readable by other users (mode %04o); run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cucmapi: %w", err)
	}
	pw := strings.TrimSpace(string(data))
	if len(pw) < minPasswordLen {
		return "", fmt.Errorf("cucmapi: password file %s holds fewer than %d characters; delete it to have a new password generated", path, minPasswordLen)
	}
	return pw, nil
}
