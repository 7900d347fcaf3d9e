#include "textflag.h"

// SHA-256 with the SHA extensions (SHA256RNDS2, SHA256MSG1, SHA256MSG2),
// as Intel describes them. The state lives in two registers in the order
// the round instruction wants: X1 = A,B,E,F and X2 = C,D,G,H (high lane
// first). A block's sixteen message words are four groups, X3 to X6, one
// word a lane, first word in lane 0. X0 holds words plus round constants
// (the round instruction's implicit operand), X7 is scratch and AX walks
// the round constants. X15 is left alone: Go code keeps zero in it.

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// ROUNDS4 runs four rounds with the message group m and the constants at k.
#define ROUNDS4(m, k) \
	MOVOU       k, X0; \
	PADDD       m, X0; \
	SHA256RNDS2 X0, X1, X2; \
	PSHUFD      $0x0e, X0, X0; \
	SHA256RNDS2 X0, X2, X1

// SCHEDULE turns the group a (words i-16 to i-13) into words i to i+3,
// from the three groups after it, b, c and d.
#define SCHEDULE(a, b, c, d) \
	SHA256MSG1 b, a; \
	MOVO       d, X7; \
	PALIGNR    $4, c, X7; \
	PADDD      X7, a; \
	SHA256MSG2 d, a

// TO_ROUND_ORDER turns X1 = A,B,C,D and X2 = E,F,G,H (lane 0 first) into
// X1 = A,B,E,F and X2 = C,D,G,H (high lane first); TO_WORDS undoes it.
#define TO_ROUND_ORDER \
	PSHUFD  $0xb1, X1, X1; \
	PSHUFD  $0x1b, X2, X2; \
	MOVO    X1, X7; \
	PALIGNR $8, X2, X1; \
	PBLENDW $0xf0, X7, X2

#define TO_WORDS \
	PSHUFD  $0x1b, X1, X1; \
	PSHUFD  $0xb1, X2, X2; \
	MOVO    X1, X7; \
	PBLENDW $0xf0, X2, X1; \
	PALIGNR $8, X7, X2

// SCHEDULED16 runs sixteen rounds on message groups it schedules, with
// the constants from AX on, and moves AX past them.
#define SCHEDULED16 \
	SCHEDULE(X3, X4, X5, X6); ROUNDS4(X3, 0(AX)); \
	SCHEDULE(X4, X5, X6, X3); ROUNDS4(X4, 16(AX)); \
	SCHEDULE(X5, X6, X3, X4); ROUNDS4(X5, 32(AX)); \
	SCHEDULE(X6, X3, X4, X5); ROUNDS4(X6, 48(AX)); \
	ADDQ $64, AX

// COMPRESS leaves in X1, X2 the state s0, s1 (round order) compressed
// over the message in X3 to X6, which it uses up, as it does AX.
#define COMPRESS(s0, s1) \
	MOVO s0, X1; \
	MOVO s1, X2; \
	LEAQ ·k256(SB), AX; \
	ROUNDS4(X3, 0(AX)); \
	ROUNDS4(X4, 16(AX)); \
	ROUNDS4(X5, 32(AX)); \
	ROUNDS4(X6, 48(AX)); \
	ADDQ $64, AX; \
	SCHEDULED16; \
	SCHEDULED16; \
	SCHEDULED16; \
	PADDD s0, X1; \
	PADDD s1, X2

// LOAD_STATE reads the state at p (native words) into s0, s1 in round
// order.
#define LOAD_STATE(p, s0, s1) \
	MOVOU (p), X1; \
	MOVOU 16(p), X2; \
	TO_ROUND_ORDER; \
	MOVO  X1, s0; \
	MOVO  X2, s1

// HASH_DIGEST hashes the block of the digest in X3, X4 and digestPad
// from the state s0, s1, leaving the new digest in X1, X2 and in X3, X4.
#define HASH_DIGEST(s0, s1) \
	MOVOU ·digestPad+0(SB), X5; \
	MOVOU ·digestPad+16(SB), X6; \
	COMPRESS(s0, s1); \
	TO_WORDS; \
	MOVO  X1, X3; \
	MOVO  X2, X4

// func compress(state *[8]uint32, block *[16]uint32)
TEXT ·compress(SB), NOSPLIT, $0-16
	MOVQ  state+0(FP), DI
	MOVQ  block+8(FP), SI
	LOAD_STATE(DI, X8, X9)
	MOVOU (SI), X3
	MOVOU 16(SI), X4
	MOVOU 32(SI), X5
	MOVOU 48(SI), X6
	COMPRESS(X8, X9)
	TO_WORDS
	MOVOU X1, (DI)
	MOVOU X2, 16(DI)
	RET

// func iterate(istate, ostate, u, t *[8]uint32, n int)
//
// Each iteration hashes the block u,digestPad from the inner pad state,
// then that digest,digestPad from the outer one: the new u, xored into t.
TEXT ·iterate(SB), NOSPLIT, $0-40
	MOVQ  istate+0(FP), AX
	LOAD_STATE(AX, X8, X9)
	MOVQ  ostate+8(FP), AX
	LOAD_STATE(AX, X10, X11)
	MOVQ  u+16(FP), SI
	MOVQ  t+24(FP), DI
	MOVQ  n+32(FP), CX
	MOVOU (SI), X3
	MOVOU 16(SI), X4
	MOVOU (DI), X12
	MOVOU 16(DI), X13
	TESTQ CX, CX
	JLE   done

loop:
	HASH_DIGEST(X8, X9)
	HASH_DIGEST(X10, X11)
	PXOR  X1, X12
	PXOR  X2, X13
	DECQ  CX
	JNZ   loop
	MOVOU X3, (SI)
	MOVOU X4, 16(SI)
	MOVOU X12, (DI)
	MOVOU X13, 16(DI)

done:
	RET
