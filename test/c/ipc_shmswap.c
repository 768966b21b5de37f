/* ipc_shmswap SEG_MIB LOCKED_MIB: System V shared memory under memory
 * pressure. A LOCKED_MIB segment is SHM_LOCKed and filled; a SEG_MIB
 * segment (larger than the sandbox's memory) is filled with a pattern by
 * this process and checked by a child that attaches it too, so its pages
 * must go to swap and come back intact through either attach. Prints
 * "ok" lines and what /proc/sysvipc/shm and SHM_INFO say about residence
 * and swap; exits 1 on a mismatch. */
#include "common.h"
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>

static long pg;

static void fill(unsigned char *p, size_t n, unsigned salt) {
	for (size_t off = 0; off < n; off += pg)
		*(unsigned *)(p + off) = (unsigned)(off / pg) * 2654435761u + salt;
}

static size_t check(unsigned char *p, size_t n, unsigned salt) {
	size_t bad = 0;
	for (size_t off = 0; off < n; off += pg)
		if (*(unsigned *)(p + off) != (unsigned)(off / pg) * 2654435761u + salt)
			bad++;
	return bad;
}

/* swap_of returns the rss and swap columns of segment id in
 * /proc/sysvipc/shm. */
static void cols(int id, unsigned long long *rss, unsigned long long *swp) {
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	char line[512];
	*rss = *swp = ~0ull;
	while (f && fgets(line, sizeof line, f)) {
		int key, shmid;
		unsigned long long v[14];
		if (sscanf(line, "%d %d %llo %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &key, &shmid,
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12],
			   &v[13]) == 16 &&
		    shmid == id) {
			*rss = v[12];
			*swp = v[13];
		}
	}
	if (f)
		fclose(f);
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 3)
		return 2;
	pg = sysconf(_SC_PAGESIZE);
	size_t n = (size_t)atol(argv[1]) << 20, ln = (size_t)atol(argv[2]) << 20;
	int locked = shmget(IPC_PRIVATE, ln, 0600);
	int big = shmget(IPC_PRIVATE, n, 0600);
	if (locked < 0 || big < 0)
		die("shmget");
	if (shmctl(locked, SHM_LOCK, NULL) < 0)
		die("SHM_LOCK");
	unsigned char *l = shmat(locked, NULL, 0), *b = shmat(big, NULL, 0);
	if (l == (void *)-1 || b == (void *)-1)
		die("shmat");
	fill(l, ln, 7);
	fill(b, n, 1);
	size_t bad = check(b, n, 1);
	printf("%s: first pass, %zu bad pages\n", bad ? "MISMATCH" : "ok", bad);
	pid_t c = fork();
	if (c == 0) {
		unsigned char *cb = shmat(big, NULL, SHM_RDONLY);
		size_t cbad = check(cb, n, 1);
		printf("%s: the child's attach, %zu bad pages\n", cbad ? "MISMATCH" : "ok", cbad);
		_exit(cbad ? 1 : 0);
	}
	int st;
	waitpid(c, &st, 0);
	fill(b, n, 2);
	bad = check(b, n, 2) + check(l, ln, 7);
	printf("%s: second pass and the locked segment, %zu bad pages\n", bad ? "MISMATCH" : "ok", bad);
	unsigned long long rss, swp, lrss, lswp;
	cols(big, &rss, &swp);
	cols(locked, &lrss, &lswp);
	struct shm_info si;
	shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
	printf("big: rss %llu MiB swap %llu MiB\n", rss >> 20, swp >> 20);
	printf("locked: rss %llu MiB swap %llu MiB\n", lrss >> 20, lswp >> 20);
	printf("SHM_INFO: shm_rss %lu shm_swp %lu pages\n", si.shm_rss, si.shm_swp);
	shmdt(b);
	shmdt(l);
	shmctl(big, IPC_RMID, NULL);
	shmctl(locked, IPC_RMID, NULL);
	shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
	printf("after IPC_RMID: used_ids %d shm_swp %lu\n", si.used_ids, si.shm_swp);
	return bad || WEXITSTATUS(st) ? 1 : 0;
}
