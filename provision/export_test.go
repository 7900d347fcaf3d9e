package provision

// SetVerifier replaces how the service checks a secret against a hash, so
// tests can see which hashes a login verifies.
func SetVerifier(s *Service, f func(hash, secret string) bool) { s.verify = f }
