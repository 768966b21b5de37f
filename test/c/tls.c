/* tls: arch_prctl (ARCH_GET_FS/ARCH_SET_FS/ARCH_GET_GS, bad codes) and
 * set_tid_address. Prints relations, never addresses: the FS base is
 * non-zero, equals glibc's TCB self-pointer at %fs:0, and a __thread variable
 * lies just below it; setting FS to a block of our own makes %fs:8 read our
 * value. set_tid_address returns the caller's TID, printed only as whether it
 * equals getpid() (in the sandbox both are 1). */
#include "common.h"
#include <asm/prctl.h>
#include <stdint.h>
#include <sys/syscall.h>

static __thread long tls_var = 42;

/* raw_arch_prctl issues the syscall without touching errno (which lives in
 * TLS and is unusable while FS points at our own block). */
static long raw_arch_prctl(long code, unsigned long addr) {
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(SYS_arch_prctl), "D"(code), "S"(addr) : "rcx", "r11", "memory");
	return ret;
}

static uintptr_t read_fs0(void) {
	uintptr_t v;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(v));
	return v;
}

static uintptr_t read_fs8(void) {
	uintptr_t v;
	__asm__ volatile("mov %%fs:8, %0" : "=r"(v));
	return v;
}

int main(void) {
	init_output();
	unsigned long fs = 0, gs = 1;
	report("arch_prctl ARCH_GET_FS", syscall(SYS_arch_prctl, ARCH_GET_FS, &fs));
	yesno("fs base non-zero", fs != 0);
	yesno("fs base equals %fs:0 (TCB self-pointer)", fs == read_fs0());
	uintptr_t var = (uintptr_t)&tls_var;
	yesno("__thread variable within 64KiB below fs base", var < fs && fs - var < 65536);
	yesno("__thread variable initialised", tls_var == 42);
	unsigned long fs2 = 0;
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs2);
	yesno("ARCH_GET_FS consistent", fs2 == fs);

	/* Point FS at our own block, read through it, restore. */
	static uintptr_t block[4];
	block[0] = (uintptr_t)block;
	block[1] = 0x1234567890abcdefULL;
	long set = raw_arch_prctl(ARCH_SET_FS, (unsigned long)block);
	uintptr_t seen = read_fs8();
	long restore = raw_arch_prctl(ARCH_SET_FS, fs);
	printf("ARCH_SET_FS = %ld, restore = %ld\n", set, restore);
	yesno("%fs:8 read our block", seen == 0x1234567890abcdefULL);
	yesno("TLS works after restore", tls_var == 42 && read_fs0() == fs);

	report("arch_prctl ARCH_GET_GS", syscall(SYS_arch_prctl, ARCH_GET_GS, &gs));
	yesno("gs base is zero", gs == 0);
	report("arch_prctl bad code", syscall(SYS_arch_prctl, 0x9999, 0));
	report("arch_prctl GET_FS bad pointer", syscall(SYS_arch_prctl, ARCH_GET_FS, (void *)1));
	report("arch_prctl SET_FS non-canonical", syscall(SYS_arch_prctl, ARCH_SET_FS, 0x8000000000000000UL));

	/* set_tid_address returns the TID. */
	static int ctid;
	long tid = syscall(SYS_set_tid_address, &ctid);
	long pid = syscall(SYS_getpid);
	yesno("set_tid_address returns getpid() (single-threaded)", tid == pid);
	yesno("gettid equals getpid", syscall(SYS_gettid) == pid);
	yesno("set_tid_address(NULL) returns it too", syscall(SYS_set_tid_address, NULL) == pid);
	return 0;
}
