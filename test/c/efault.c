/* efault: bad pointers passed to read/write/stat/open and friends get EFAULT
 * every time, and the program then exits 0 normally (the kernel, or the
 * sentry, survived). Raw syscalls are used so that libc does not check
 * anything first. */
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static const char rodata[64] = "read-only data";

int main(void) {
	init_output();
	void *bad = (void *)1;
	void *kernel = (void *)0xffffffffff600000UL; /* kernel half / vsyscall page */
	/* A page that is mapped but inaccessible, and one that was unmapped. */
	char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(gone, 4096);
	int fd = open("/etc/passwd", O_RDONLY);
	int null = open("/dev/null", O_RDWR), null_ro = open("/dev/null", O_RDONLY);
	struct stat st;

	for (int round = 1; round <= 2; round++) {
		printf("round %d\n", round);
		report("read into (void*)1", syscall(SYS_read, fd, bad, 10));
		report("read into unmapped page", syscall(SYS_read, fd, gone, 10));
		report("read into PROT_NONE page", syscall(SYS_read, fd, none, 10));
		report("read into kernel address", syscall(SYS_read, fd, kernel, 10));
		report("read into read-only data", syscall(SYS_read, fd, (void *)rodata, 10));
		report("write from (void*)1", syscall(SYS_write, 1, bad, 10));
		report("write from unmapped page", syscall(SYS_write, 1, gone, 10));
		report("write from PROT_NONE page", syscall(SYS_write, 1, none, 10));
		report("stat path (void*)1", syscall(SYS_stat, bad, &st));
		report("stat buffer (void*)1", syscall(SYS_stat, "/etc/passwd", bad));
		report("stat buffer in read-only data", syscall(SYS_stat, "/etc/passwd", (void *)rodata));
		report("fstat buffer (void*)1", syscall(SYS_fstat, fd, bad));
		report("newfstatat path unmapped", syscall(SYS_newfstatat, AT_FDCWD, gone, &st, 0));
		report("open path (void*)1", syscall(SYS_open, bad, O_RDONLY));
		report("openat path PROT_NONE", syscall(SYS_openat, AT_FDCWD, none, O_RDONLY));
		report("readv iovec array (void*)1", syscall(SYS_readv, fd, bad, 1));
		struct iovec iov = {.iov_base = bad, .iov_len = 10};
		report("writev iov_base (void*)1", syscall(SYS_writev, 1, &iov, 1));
		/* /dev/null never reads the data: only a range outside the
		 * user half (access_ok) fails. */
		report("write (void*)1 to /dev/null", syscall(SYS_write, null, bad, 10));
		report("write unmapped page to /dev/null", syscall(SYS_write, null, gone, 4096));
		report("write PROT_NONE page to /dev/null", syscall(SYS_write, null, none, 4096));
		report("write kernel address to /dev/null", syscall(SYS_write, null, kernel, 10));
		report("write past the user half to /dev/null",
		       syscall(SYS_write, null, (void *)(0x7ffffffff000UL - 5), 10));
		report("writev iov_base (void*)1 to /dev/null", syscall(SYS_writev, null, &iov, 1));
		struct iovec kiov[2] = {{.iov_base = gone, .iov_len = 7}, {.iov_base = kernel, .iov_len = 3}};
		report("writev kernel iov_base to /dev/null", syscall(SYS_writev, null, kiov, 2));
		report("write (void*)1 to read-only /dev/null", syscall(SYS_write, null_ro, bad, 10));
		report("pread64 into (void*)1", syscall(SYS_pread64, fd, bad, 10, 0));
		report("uname (void*)1", syscall(SYS_uname, bad));
		report("getcwd into (void*)1", syscall(SYS_getcwd, bad, 100));
		report("readlink buffer (void*)1", syscall(SYS_readlink, "/proc/self/exe", bad, 100));
	}
	/* The descriptor still works: nothing was consumed by the failed reads. */
	char buf[6] = {0};
	report("read after all that", syscall(SYS_read, fd, buf, 5));
	printf("data: %s\n", buf);
	printf("survived\n");
	return 0;
}
