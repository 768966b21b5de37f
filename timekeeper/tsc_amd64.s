#include "textflag.h"

// func rdtsc() uint64
//
// LFENCE before: the read is not taken before earlier loads (a seqcount's
// first read) complete; LFENCE after: later loads (the seqcount's second
// read) wait for it. The vDSO reads the TSC the same way (vdso.c).
TEXT ·rdtsc(SB),NOSPLIT,$0-8
	LFENCE
	RDTSC
	LFENCE
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+0(FP)
	RET
