/*
 * The stand-in: the host process that is a sandbox's first container to
 * the outside (runsc-lite/oci/standin.go). A whole static ELF executable
 * without libc or a Go runtime: this file holds its ELF header and its one
 * program header, and src/gen.sh turns the assembled bytes into
 * standincode.go. It is loaded at standin_base.
 *
 * It starts with the control connection on descriptor 3: a connection to
 * the sandbox's control socket on which the CLI has sent an OpWait request
 * with KillOnClose and StandIn (sentry/control). From there the
 * connection speaks the stand-in protocol:
 *   - each signal the stand-in gets, but SIGCHLD, SIGPIPE, SIGURG and
 *     SIGWINCH, is sent as one byte, its number: the sentry signals the
 *     container's init with it;
 *   - when init has exited the sentry sends two bytes, its exit code and
 *     the signal that killed it (0 if none), and the stand-in ends the
 *     same way: it exits with that code, or dies of that signal (as the
 *     init of a PID namespace, which no signal of its own kills, it exits
 *     with 128+signal, the status a shell gives);
 *   - the connection's end before that (the sentry died) ends it as a
 *     SIGKILL would; its own end (it was killed) makes the sentry kill the
 *     container.
 * Descriptor 4, the memfd it was executed from, is closed first, and the
 * process is named runsc-lite-wait (its name would be "4").
 *
 * Every catchable signal is blocked and read from a signalfd, so nothing
 * runs in a handler; the stand-in waits in poll(2) on the connection and
 * the signalfd.
 */

	.set standin_base, 0x400000

	/* System call numbers (x86-64). */
	.set SYS_read, 0
	.set SYS_close, 3
	.set SYS_poll, 7
	.set SYS_rt_sigaction, 13
	.set SYS_rt_sigprocmask, 14
	.set SYS_getpid, 39
	.set SYS_prctl, 157
	.set SYS_sendto, 44
	.set SYS_setrlimit, 160
	.set SYS_gettid, 186
	.set SYS_exit_group, 231
	.set SYS_tgkill, 234
	.set SYS_signalfd4, 289

	.set SIG_UNBLOCK, 1
	.set SIG_SETMASK, 2
	.set SFD_CLOEXEC, 0x80000
	.set MSG_NOSIGNAL, 0x4000
	.set POLLIN, 1
	.set RLIMIT_CORE, 4
	.set PR_SET_NAME, 15
	.set SIGKILL, 9
	.set SIGPIPE, 13
	.set SIGCHLD, 17
	.set SIGURG, 23
	.set SIGWINCH, 28

	/* The control connection, and the memfd of this image. */
	.set CONN, 3
	.set IMAGE, 4

	/* The stack frame: offsets from %rsp. */
	.set F_MASK, 0		/* 8: a signal set */
	.set F_POLL, 8		/* 16: two struct pollfd */
	.set F_EXIT, 24		/* 2: the exit record */
	.set F_BYTE, 28		/* 1: a signal number to send */
	.set F_ACT, 32		/* 32: struct sigaction, SIG_DFL */
	.set F_INFO, 64		/* 128: struct signalfd_siginfo */
	.set F_SIZE, 192

	.text
	.globl _start

elf_header:
	.byte 0x7f, 'E', 'L', 'F', 2, 1, 1, 0	/* 64-bit, little-endian, version 1, System V */
	.quad 0
	.word 2				/* e_type: ET_EXEC */
	.word 62			/* e_machine: EM_X86_64 */
	.long 1				/* e_version */
	.quad standin_base + _start - elf_header	/* e_entry */
	.quad program_headers - elf_header	/* e_phoff */
	.quad 0				/* e_shoff */
	.long 0				/* e_flags */
	.word 64			/* e_ehsize */
	.word 56			/* e_phentsize */
	.word 2				/* e_phnum */
	.word 0, 0, 0			/* e_shentsize, e_shnum, e_shstrndx */

program_headers:
	/* PT_LOAD: the whole file, r-x. */
	.long 1, 5
	.quad 0, standin_base, standin_base
	.quad image_end - elf_header, image_end - elf_header
	.quad 0x1000
	/* PT_GNU_STACK: rw-, so the kernel never applies READ_IMPLIES_EXEC. */
	.long 0x6474e551, 6
	.quad 0, 0, 0, 0, 0, 16

_start:
	sub $F_SIZE, %rsp
	mov $SYS_close, %eax
	mov $IMAGE, %edi
	syscall
	mov $SYS_prctl, %eax
	mov $PR_SET_NAME, %edi
	lea name(%rip), %rsi
	syscall

	/* Block every signal; read them from a signalfd. */
	movq $-1, F_MASK(%rsp)
	mov $SYS_rt_sigprocmask, %eax
	mov $SIG_SETMASK, %edi
	lea F_MASK(%rsp), %rsi
	xor %edx, %edx
	mov $8, %r10d
	syscall
	mov $SYS_signalfd4, %eax
	mov $-1, %edi
	lea F_MASK(%rsp), %rsi
	mov $8, %edx
	mov $SFD_CLOEXEC, %r10d
	syscall
	test %eax, %eax
	js killed		/* no signalfd: nothing can be forwarded */
	mov %eax, %r12d

wait:
	movl $CONN, F_POLL(%rsp)
	movl $POLLIN, F_POLL+4(%rsp)	/* events; revents 0 */
	movl %r12d, F_POLL+8(%rsp)
	movl $POLLIN, F_POLL+12(%rsp)
	mov $SYS_poll, %eax
	lea F_POLL(%rsp), %rdi
	mov $2, %esi
	mov $-1, %edx
	syscall
	test %eax, %eax
	jle wait
	cmpw $0, F_POLL+6(%rsp)
	jne exit_record		/* the connection: data, its end or an error */

	/* A signal. */
	mov $SYS_read, %eax
	mov %r12d, %edi
	lea F_INFO(%rsp), %rsi
	mov $128, %edx
	syscall
	cmp $128, %rax
	jne wait
	mov F_INFO(%rsp), %eax	/* ssi_signo */
	cmp $SIGCHLD, %eax
	je wait
	cmp $SIGPIPE, %eax
	je wait
	cmp $SIGURG, %eax
	je wait
	cmp $SIGWINCH, %eax
	je wait
	movb %al, F_BYTE(%rsp)
	mov $SYS_sendto, %eax
	mov $CONN, %edi
	lea F_BYTE(%rsp), %rsi
	mov $1, %edx
	mov $MSG_NOSIGNAL, %r10d
	xor %r8d, %r8d
	xor %r9d, %r9d
	syscall
	jmp wait

exit_record:
	/* Read the two bytes of the exit record; %r13 counts them. */
	xor %r13d, %r13d
1:	mov $SYS_read, %eax
	mov $CONN, %edi
	lea F_EXIT(%rsp,%r13), %rsi
	mov $2, %edx
	sub %r13d, %edx
	syscall
	cmp $-4, %rax		/* EINTR */
	je 1b
	test %rax, %rax
	jle killed		/* the connection ended first: the sentry died */
	add %eax, %r13d
	cmp $2, %r13d
	jb 1b
	movzbl F_EXIT+1(%rsp), %ebx	/* the signal */
	test %ebx, %ebx
	jnz die
	movzbl F_EXIT(%rsp), %edi	/* the code */
	mov $SYS_exit_group, %eax
	syscall

killed:
	mov $SIGKILL, %ebx

die:
	/* Die of signal %ebx: no core file, its default action, unblocked,
	   sent to this thread. */
	movq $0, F_ACT(%rsp)
	movq $0, F_ACT+8(%rsp)
	mov $SYS_setrlimit, %eax
	mov $RLIMIT_CORE, %edi
	lea F_ACT(%rsp), %rsi
	syscall
	movq $0, F_ACT+16(%rsp)
	movq $0, F_ACT+24(%rsp)
	mov $SYS_rt_sigaction, %eax
	mov %ebx, %edi
	lea F_ACT(%rsp), %rsi
	xor %edx, %edx
	mov $8, %r10d
	syscall
	lea -1(%rbx), %ecx
	mov $1, %eax
	shl %cl, %rax
	mov %rax, F_MASK(%rsp)
	mov $SYS_rt_sigprocmask, %eax
	mov $SIG_UNBLOCK, %edi
	lea F_MASK(%rsp), %rsi
	xor %edx, %edx
	mov $8, %r10d
	syscall
	mov $SYS_getpid, %eax
	syscall
	mov %eax, %r14d
	mov $SYS_gettid, %eax
	syscall
	mov %eax, %esi
	mov %r14d, %edi
	mov %ebx, %edx
	mov $SYS_tgkill, %eax
	syscall
	/* Still here: the init of a PID namespace, or a signal whose
	   default is not to end the process. */
	lea 128(%rbx), %edi
	mov $SYS_exit_group, %eax
	syscall

name:
	.asciz "runsc-lite-wait"

image_end:
