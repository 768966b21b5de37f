/*
 * The systrap stub's code: the signal handler every stub thread runs on
 * its alternate signal stack, its signal restorer, and the bootstrap
 * that parks a new thread in the handler. See ../systrap.go for the
 * protocol. src/gen.sh assembles it into ../stubcode.go; the test
 * TestStubCodeGenerated rebuilds it and compares.
 *
 * Freestanding: no stack of its own besides the signal frame, no data,
 * no libc. It is loaded at a fixed address in the stub page and must be
 * position independent (it is: only relative jumps).
 *
 * Per-thread region (REGION_SIZE bytes, aligned to its size): the
 * message page first, then the alternate signal stack. The handler finds
 * its message page by masking its stack pointer.
 */
	.set REGION_MASK, -0x10000
	.set MSG_STATE, 0       /* u32: 1 event (stub to sentry), 2 resume (sentry to stub) */
	.set MSG_SIGNO, 4       /* u32 */
	.set MSG_SIGINFO, 8     /* u64: the frame's siginfo */
	.set MSG_UCONTEXT, 16   /* u64: the frame's ucontext */
	.set MSG_FSBASE, 24     /* u64: fs base to set before returning */
	.set MSG_SETBASE, 32    /* u32: bit 0: set MSG_FSBASE; bit 1: set MSG_GSBASE */
	.set MSG_SENTRY_WAITING, 36 /* u32: nonzero: the sentry may sleep on MSG_STATE */
	.set MSG_GSBASE, 40     /* u64: gs base to set before returning */
	.set MSG_STUB_WAITING, 48 /* u32: nonzero: the stub may sleep on MSG_STATE (the sentry must wake it) */
	.set MSG_STUB_POLLS, 52 /* u32: how many times the stub polls MSG_STATE before it sleeps (the sentry's choice) */
	.set MSG_STUB_YIELDS, 56 /* u32: how many sched_yields it then makes, looking between them, before it sleeps (the sentry's choice) */
	.set MSG_STUB_SEEN, 64  /* u64: the TSC when the stub saw "resume" during its yields (0: not during them) */
	.set STATE_EVENT, 1
	.set STATE_RESUME, 2
	.set SYS_FUTEX, 202
	.set SYS_ARCH_PRCTL, 158
	.set SYS_RT_SIGRETURN, 15
	.set SYS_SCHED_YIELD, 24
	.set FUTEX_WAIT, 0
	.set FUTEX_WAKE, 1
	.set ARCH_SET_FS, 0x1002
	.set ARCH_SET_GS, 0x1001

	.text
	.globl handler, futex_return, arch_prctl_return, restorer, sigreturn_return, bootstrap, yield_return

/* handler(signo in edi, siginfo in rsi, ucontext in rdx), every signal blocked. */
handler:
	mov	%rsp, %r12
	and	$REGION_MASK, %r12
	mov	%edi, MSG_SIGNO(%r12)
	mov	%rsi, MSG_SIGINFO(%r12)
	mov	%rdx, MSG_UCONTEXT(%r12)
	/* xchg: a full barrier between the state store and the load of
	 * MSG_SENTRY_WAITING (the sentry orders them the other way). */
	mov	$STATE_EVENT, %eax
	xchg	%eax, MSG_STATE(%r12)
	cmpl	$0, MSG_SENTRY_WAITING(%r12)
	je	futex_return	/* the sentry is polling: no wake needed */
	mov	$FUTEX_WAKE, %esi
futex:
	/* futex(&msg->state, esi, 1, NULL): wake the sentry, or wait while the state is still "event". */
	mov	%r12, %rdi
	mov	$1, %edx
	xor	%r10d, %r10d
	mov	$SYS_FUTEX, %eax
	syscall
futex_return:
	movl	$0, MSG_STUB_WAITING(%r12)
	/* Poll for "resume" MSG_STUB_POLLS times before sleeping: a sentry
	 * that answers within the poll needs no futex wake, which costs a
	 * host context switch on each side. */
	mov	MSG_STUB_POLLS(%r12), %ecx
poll:
	cmpl	$STATE_RESUME, MSG_STATE(%r12)
	je	resume
	sub	$1, %ecx
	jb	yields
	pause
	jmp	poll
sleep:
	/* xchg: a full barrier between the store of MSG_STUB_WAITING and
	 * the load of the state (the sentry stores the state with xchg,
	 * then loads MSG_STUB_WAITING): either we see "resume" or the
	 * sentry sees us waiting and wakes us. */
	mov	$1, %eax
	xchg	%eax, MSG_STUB_WAITING(%r12)
	cmpl	$STATE_RESUME, MSG_STATE(%r12)
	je	futex_return
	mov	$FUTEX_WAIT, %esi
	jmp	futex
resume:
	testl	$1, MSG_SETBASE(%r12)
	jz	1f
	andl	$~1, MSG_SETBASE(%r12)
	mov	$ARCH_SET_FS, %edi
	mov	MSG_FSBASE(%r12), %rsi
	jmp	setbase
1:	testl	$2, MSG_SETBASE(%r12)
	jz	done
	andl	$~2, MSG_SETBASE(%r12)
	mov	$ARCH_SET_GS, %edi
	mov	MSG_GSBASE(%r12), %rsi
setbase:
	mov	$SYS_ARCH_PRCTL, %eax
	syscall
arch_prctl_return:
	jmp	resume
done:
	ret			/* to restorer, the frame's return address */

restorer:
	mov	$SYS_RT_SIGRETURN, %eax
	syscall
sigreturn_return:
	ud2

/* A new thread starts here: a syscall from an address the filter traps. */
bootstrap:
	syscall
	ud2

/* After the poll: look again between MSG_STUB_YIELDS sched_yields, then
 * sleep. A yield gives the host CPU to any other runnable thread there
 * (the other task's stub, in a ping-pong between two processes) and comes
 * back when it is free, so the stub of a task whose syscall blocked can
 * wait for its answer across the other task's turn without a futex sleep
 * and wake, and without taking the CPU from the thread that needs it
 * (which a poll of PAUSEs as long would). Placed last so that the other
 * symbols keep their offsets. */
yields:
	mov	MSG_STUB_YIELDS(%r12), %r13d
yield:
	sub	$1, %r13d
	jb	sleep
	mov	$SYS_SCHED_YIELD, %eax
	syscall
yield_return:
	cmpl	$STATE_RESUME, MSG_STATE(%r12)
	je	yielded
	jmp	yield
yielded:
	/* When: the sentry judges by it whether the yields pay (a stub that
	 * yielded to busy threads sees its answer late). */
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, MSG_STUB_SEEN(%r12)
	jmp	resume
