package kdf

// cpuid is the CPUID instruction.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// hasSHAExtensions reports the SHA extensions and the SSSE3 and SSE4.1
// shuffles the loop uses.
func hasSHAExtensions() bool {
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	_, ebx7, _, _ := cpuid(7, 0)
	const ssse3, sse41, sha = 1 << 9, 1 << 19, 1 << 29
	return ecx1&ssse3 != 0 && ecx1&sse41 != 0 && ebx7&sha != 0
}

// compress runs SHA-256's compression of block into state (both as
// native words).
//
//go:noescape
func compress(state *[8]uint32, block *[16]uint32)

// iterate runs n PBKDF2 iterations: u = HMAC(u) from the inner and outer
// pad states, t ^= u, leaving the last u and t.
//
//go:noescape
func iterate(istate, ostate, u, t *[8]uint32, n int)
