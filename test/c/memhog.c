// memhog N [SECONDS]: map N MiB of anonymous memory, write a pattern that
// differs in every page and every word, read it all back, print "ok" and
// exit 0. A wrong word prints the first bad page and exits 1; a failed
// mmap exits 2. With SECONDS, it sleeps that long before verifying (to
// hold the memory while others run). Used by memory_test.go: under
// --total-memory 256M, 400 MiB only fits with swap; without swap the
// sandbox's OOM killer must kill it (status 137). With MEMHOG_TIMES=1 in
// the environment it prints the time of each phase to stderr
// ("write_ms: X", "verify_ms: Y"; bench/memory.sh). The mapping is
// MAP_NORESERVE: without it the overcommit heuristic (Linux's default, and
// the sandbox's) refuses a single mapping larger than memory plus swap
// outright, and the OOM killer would never be reached.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static uint64_t word(uint64_t page, uint64_t i) {
	return (page * 0x9E3779B97F4A7C15ULL) ^ (i * 0xBF58476D1CE4E5B9ULL) ^ 0x5A5A5A5A5A5A5A5AULL;
}

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
	int times = getenv("MEMHOG_TIMES") != NULL;
	if (argc < 2) {
		fprintf(stderr, "usage: memhog MIB [SECONDS]\n");
		return 2;
	}
	unsigned long mib = strtoul(argv[1], NULL, 10);
	size_t len = mib << 20;
	uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	size_t pages = len / PAGE, words = PAGE / sizeof(uint64_t);
	double t0 = now_ms();
	for (size_t pg = 0; pg < pages; pg++) {
		uint64_t *w = p + pg * words;
		for (size_t i = 0; i < words; i++)
			w[i] = word(pg, i);
	}
	double t1 = now_ms();
	if (argc > 2)
		sleep(atoi(argv[2]));
	double t2 = now_ms();
	for (size_t pg = 0; pg < pages; pg++) {
		uint64_t *w = p + pg * words;
		for (size_t i = 0; i < words; i++) {
			if (w[i] != word(pg, i)) {
				printf("bad page %zu word %zu: %#llx want %#llx\n", pg, i,
				       (unsigned long long)w[i], (unsigned long long)word(pg, i));
				return 1;
			}
		}
	}
	if (times)
		fprintf(stderr, "write_ms: %.1f\nverify_ms: %.1f\n", t1 - t0, now_ms() - t2);
	printf("ok\n");
	return 0;
}
