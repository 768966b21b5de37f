/* segv: dies of SIGSEGV at once (a write to address 0). The OCI tests run
 * it as a container's init, whose sentry must die of the same signal. */
int main(void) {
	*(volatile int *)0 = 1;
	return 0;
}
