/* ipcns.c: IPC namespaces (issue 15 item 6): a child that unshares
 * CLONE_NEWIPC sees none of its parent's System V objects or POSIX message
 * queues, makes its own under the same key and name, and /proc/sysvipc
 * shows its namespace's; setns by /proc/PID/ns/ipc joins it;
 * clone(CLONE_NEWIPC|CLONE_SYSVSEM) is EINVAL, and unprivileged callers
 * get EPERM. */
#include "common.h"
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* lines returns the number of lines of a /proc file. */
static int lines(const char *p) {
	FILE *f = fopen(p, "r");
	int n = 0, c;
	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static key_t key;
static char qname[64];

int main(void) {
	init_output();
	key = 0x6e730000 | (getpid() & 0xffff);
	snprintf(qname, sizeof qname, "/ipcns-%d", getpid());
	int shm = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
	int msq = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	mqd_t mq = mq_open(qname, O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
	yesno("parent's objects made", shm >= 0 && msq >= 0 && mq != (mqd_t)-1);
	int ready[2], done[2];
	if (pipe(ready) || pipe(done))
		die("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		report("unshare(NEWIPC)", unshare(CLONE_NEWIPC));
		report("shmget of the parent's key", shmget(key, 0, 0));
		report("msgget of the parent's key", msgget(key, 0));
		report("mq_open of the parent's queue", mq_open(qname, O_RDONLY));
		printf("/proc/sysvipc/shm lines: %d\n", lines("/proc/sysvipc/shm"));
		int s2 = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
		yesno("own segment under the same key", s2 >= 0);
		printf("/proc/sysvipc/shm lines: %d\n", lines("/proc/sysvipc/shm"));
		write(ready[1], "r", 1);
		read(done[0], &c, 1);
		_exit(0);
	}
	char c;
	read(ready[0], &c, 1);
	struct shmid_ds ds;
	shmctl(shm, IPC_STAT, &ds);
	printf("parent's segment still %zu bytes\n", (size_t)ds.shm_segsz);
	char p1[64], l1[64] = "", l2[64] = "";
	snprintf(p1, sizeof p1, "/proc/%d/ns/ipc", pid);
	readlink(p1, l1, sizeof l1 - 1);
	readlink("/proc/self/ns/ipc", l2, sizeof l2 - 1);
	yesno("ns/ipc names ipc:[N]", strncmp(l2, "ipc:[", 5) == 0);
	yesno("child's ns/ipc differs", strcmp(l1, l2) != 0);
	pid_t g = fork();
	if (g == 0) {
		int fd = open(p1, O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWIPC) != 0)
			_exit(20);
		struct shmid_ds d;
		int id = shmget(key, 0, 0);
		if (id < 0 || shmctl(id, IPC_STAT, &d) != 0)
			_exit(21);
		_exit(d.shm_segsz == 8192 ? 0 : 22);
	}
	printf("setns into the child's IPC namespace: %d\n", wait_status(g));
	write(done[1], "d", 1);
	printf("child: %d\n", wait_status(pid));
	report("clone(NEWIPC|SYSVSEM)", syscall(SYS_clone, CLONE_NEWIPC | CLONE_SYSVSEM | SIGCHLD, 0, 0, 0, 0));
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(50);
		report("unprivileged unshare(NEWIPC)", unshare(CLONE_NEWIPC));
		report("unprivileged clone(NEWIPC)", syscall(SYS_clone, CLONE_NEWIPC | SIGCHLD, 0, 0, 0, 0));
		_exit(0);
	}
	printf("unprivileged child: %d\n", wait_status(pid));
	shmctl(shm, IPC_RMID, NULL);
	msgctl(msq, IPC_RMID, NULL);
	mq_unlink(qname);
	return 0;
}
