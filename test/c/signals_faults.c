/* signals_faults.c: synchronous signals from faults, and signal frames the
 * program corrupts.
 *
 * Usage: signals_faults CASE.
 *
 *   handlers     SIGSEGV (unmapped: SEGV_MAPERR, PROT_NONE: SEGV_ACCERR),
 *                SIGBUS (a file mapping past EOF), SIGFPE (division by
 *                zero), SIGILL (ud2), SIGTRAP (int3) caught by handlers
 *                that check si_addr and leave with siglongjmp (or return)
 *   overflow     a stack overflow caught by a SIGSEGV handler on an
 *                alternate stack
 *   segv-ignored a fault while SIGSEGV is ignored: killed (status 139)
 *   segv-blocked a fault while SIGSEGV is blocked: killed (status 139)
 *   segv-nested  a fault inside the SIGSEGV handler: killed (139)
 *   bad-rip      the handler sets the saved rip to 0: SIGSEGV (139)
 *   bad-frame    rt_sigreturn with rsp on unmapped memory: SIGSEGV (139)
 *   garbage      the handler fills the saved context with 0xff: 139
 *   bad-fpstate  the handler sets reserved MXCSR bits in the saved FP
 *                state: SIGSEGV (139)
 *   edit-regs    the handler changes saved registers (rip past a ud2,
 *                rax): the program goes on with them (status 0)
 */
#include "common.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>

static sigjmp_buf env;
static volatile void *fault_addr;
static volatile int fault_code, fault_signo;

static void on_fault(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	fault_signo = sig;
	fault_code = si->si_code;
	fault_addr = si->si_addr;
	siglongjmp(env, 1);
}

static void catch_signal(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		die("sigaction");
}

extern char ud2_insn[], int3_after[];

static volatile int zero = 0;
static volatile int trapped;

static void on_trap(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	trapped = sig;
	fault_code = si->si_code;
}

static void case_handlers(void) {
	catch_signal(SIGSEGV, on_fault, 0);
	catch_signal(SIGBUS, on_fault, 0);
	catch_signal(SIGFPE, on_fault, 0);
	catch_signal(SIGILL, on_fault, 0);

	for (int round = 0; round < 2; round++) {
		volatile char *p = (volatile char *)0x10000 + round * 4096;
		if (sigsetjmp(env, 1) == 0) {
			*p = 1;
			printf("no fault\n");
		}
		printf("round %d unmapped: signo = %d code = %s addr ok: %s\n", round, fault_signo,
		       fault_code == SEGV_MAPERR ? "SEGV_MAPERR" : "other", fault_addr == (void *)p ? "yes" : "no");
		sigset_t cur;
		sigprocmask(SIG_BLOCK, NULL, &cur);
		yesno("SIGSEGV unblocked after siglongjmp", !sigismember(&cur, SIGSEGV));
	}

	char *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		die("mmap");
	if (sigsetjmp(env, 1) == 0)
		(void)*(volatile char *)(page + 100);
	printf("PROT_NONE read: signo = %d code = %s addr ok: %s\n", fault_signo,
	       fault_code == SEGV_ACCERR ? "SEGV_ACCERR" : "other", fault_addr == page + 100 ? "yes" : "no");
	mprotect(page, 4096, PROT_READ);
	if (sigsetjmp(env, 1) == 0)
		*(volatile char *)(page + 200) = 1;
	printf("read-only write: signo = %d code = %s addr ok: %s\n", fault_signo,
	       fault_code == SEGV_ACCERR ? "SEGV_ACCERR" : "other", fault_addr == page + 200 ? "yes" : "no");

	char path[] = "/tmp/sigbus-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	unlink(path);
	if (ftruncate(fd, 100))
		die("ftruncate");
	char *fm = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	if (fm == MAP_FAILED)
		die("mmap file");
	if (sigsetjmp(env, 1) == 0)
		(void)*(volatile char *)(fm + 4096 + 8);
	printf("past EOF: signo = %d code = %s addr ok: %s\n", fault_signo, fault_code == BUS_ADRERR ? "BUS_ADRERR" : "other",
	       fault_addr == fm + 4096 + 8 ? "yes" : "no");

	if (sigsetjmp(env, 1) == 0) {
		unsigned int q, d = (unsigned int)zero;
		__asm__ volatile("xor %%edx, %%edx\n\tmov $7, %%eax\n\tdiv %1" : "=a"(q) : "r"(d) : "rdx");
		printf("%u\n", q);
	}
	printf("divide by zero: signo = %d code = %s\n", fault_signo, fault_code == FPE_INTDIV ? "FPE_INTDIV" : "other");

	if (sigsetjmp(env, 1) == 0)
		__asm__ volatile(".globl ud2_insn\nud2_insn: ud2");
	printf("ud2: signo = %d code = %s addr ok: %s\n", fault_signo, fault_code == ILL_ILLOPN ? "ILL_ILLOPN" : "other",
	       fault_addr == (void *)ud2_insn ? "yes" : "no");

	catch_signal(SIGTRAP, on_trap, 0);
	__asm__ volatile("int3\n.globl int3_after\nint3_after: nop");
	printf("int3: signo = %d code = %s, continued after it\n", trapped, fault_code == SI_KERNEL ? "SI_KERNEL" : "other");
}

static char *alt;
static volatile int overflow_caught;

static void on_overflow(int sig, siginfo_t *si, void *uc) {
	(void)si;
	(void)uc;
	overflow_caught = sig;
	siglongjmp(env, 1);
}

static volatile int depth_limit = 1 << 30;

static int recurse(int n) {
	volatile char buf[1024];
	buf[0] = (char)n;
	if (n >= depth_limit)
		return 0;
	return recurse(n + 1) + buf[0];
}

static void case_overflow(void) {
	alt = malloc(SIGSTKSZ * 4);
	stack_t ss = {.ss_sp = alt, .ss_size = SIGSTKSZ * 4};
	if (sigaltstack(&ss, NULL))
		die("sigaltstack");
	catch_signal(SIGSEGV, on_overflow, SA_ONSTACK);
	if (sigsetjmp(env, 1) == 0)
		recurse(0);
	printf("stack overflow caught on the alternate stack: %s\n", overflow_caught == SIGSEGV ? "yes" : "no");
}

static void fault_now(void) { *(volatile int *)8 = 1; }

static void on_nested(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)si;
	(void)uc;
	printf("in handler\n");
	fault_now();
}

static void on_bad_rip(int sig, siginfo_t *si, void *ucv) {
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	uc->uc_mcontext.gregs[REG_RIP] = 0;
}

static void on_garbage(int sig, siginfo_t *si, void *ucv) {
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	memset(&uc->uc_mcontext, 0xff, sizeof uc->uc_mcontext);
}

static void on_bad_fp(int sig, siginfo_t *si, void *ucv) {
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	uc->uc_mcontext.fpregs->mxcsr |= 0xffff0000u;
}

static void on_edit(int sig, siginfo_t *si, void *ucv) {
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	/* Skip the 2-byte ud2 and return 1234 in rax. */
	uc->uc_mcontext.gregs[REG_RIP] += 2;
	uc->uc_mcontext.gregs[REG_RAX] = 1234;
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "handlers")) {
		case_handlers();
	} else if (!strcmp(c, "overflow")) {
		case_overflow();
	} else if (!strcmp(c, "segv-ignored")) {
		signal(SIGSEGV, SIG_IGN);
		fault_now();
		printf("still alive\n");
	} else if (!strcmp(c, "segv-blocked")) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGSEGV);
		sigprocmask(SIG_BLOCK, &set, NULL);
		fault_now();
		printf("still alive\n");
	} else if (!strcmp(c, "segv-nested")) {
		catch_signal(SIGSEGV, on_nested, 0);
		fault_now();
		printf("still alive\n");
	} else if (!strcmp(c, "bad-rip")) {
		catch_signal(SIGUSR1, on_bad_rip, 0);
		raise(SIGUSR1);
		printf("still alive\n");
	} else if (!strcmp(c, "bad-frame")) {
		printf("calling rt_sigreturn with a bad stack\n");
		__asm__ volatile("mov $0x10000, %%rsp\n\tmov %0, %%eax\n\tsyscall" ::"i"(SYS_rt_sigreturn));
		printf("still alive\n");
	} else if (!strcmp(c, "garbage")) {
		catch_signal(SIGUSR1, on_garbage, 0);
		raise(SIGUSR1);
		printf("still alive\n");
	} else if (!strcmp(c, "bad-fpstate")) {
		catch_signal(SIGUSR1, on_bad_fp, 0);
		raise(SIGUSR1);
		printf("still alive\n");
	} else if (!strcmp(c, "edit-regs")) {
		catch_signal(SIGILL, on_edit, 0);
		long rax;
		__asm__ volatile("xor %%eax, %%eax\n\tud2\n\tmov %%rax, %0" : "=r"(rax) : : "rax");
		printf("after ud2: rax = %ld\n", rax);
	} else {
		fprintf(stderr, "unknown case %s\n", c);
		return 2;
	}
	return 0;
}
