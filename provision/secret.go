package provision

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"selfprov/internal/kdf"
)

// DefaultHashIterations is the PBKDF2-SHA256 cost for passwords and the
// system authentication code.
//
// Why PBKDF2 and why this low: the cost has to let a boot storm of hundreds
// of logins per second through on two cores (one verification at this cost
// is ~0.55 ms here, ~1.5 ms with crypto/pbkdf2), while still salting and
// stretching enough that a leaked store does not hand out passwords for
// free. PBKDF2 is in the standard library, which the core is limited to;
// internal/kdf computes the same bytes at a third of its cost. The iteration count is stored in
// every hash, so the cost can be raised later without invalidating
// existing secrets.
const DefaultHashIterations = 4096

// DefaultPINHashIterations is the cost for PINs, a quarter of the password
// cost. A PIN has 4 to 8 digits: at 10^4 to 10^8 candidates no KDF cost
// makes an offline guess expensive (all 5-digit PINs take 40 s of one core
// at 4096 iterations, 10 s at 1024); what protects a PIN is the online
// lockout of the credential policy, and its hash only has to keep it out
// of the store in clear. The PIN login is the one a boot storm of phones
// does, where verifying at the password cost was a quarter of selfprovd's
// CPU.
const DefaultPINHashIterations = 1024

const hashScheme = "pbkdf2-sha256"

// HashSecret returns a salted hash of secret at the given cost
// (0 means DefaultHashIterations), encoded as
// "pbkdf2-sha256$<iterations>$<salt>$<key>".
func HashSecret(secret string, iterations int) (string, error) {
	if iterations <= 0 {
		iterations = DefaultHashIterations
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := kdf.Key(secret, salt, iterations, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", hashScheme, iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifySecret reports whether secret matches hash. A malformed or empty
// hash never matches.
func VerifySecret(hash, secret string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter <= 0 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := kdf.Key(secret, salt, iter, len(want))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}
