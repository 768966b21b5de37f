/* ipc_ipcs: what ipcs(1) and /proc/sysvipc show of a fresh IPC namespace
 * (natively the program unshares one; the sandbox's is its own) holding a
 * shared memory segment (attached and SHM_LOCKed), a removed segment
 * still attached (dest), a semaphore set and a message queue with
 * two messages. It prints /proc/sysvipc/{shm,sem,msg} with the columns
 * that hold PIDs and times masked, the IPC sysctls, and runs ipcs with
 * the given arguments (argv[1..]) once per argument list separated by
 * "--". The test masks PIDs and times in ipcs's output. */
#include "common.h"
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

/* sysvipc prints /proc/sysvipc/NAME with the given columns (0-based)
 * replaced by "-". */
static void sysvipc(const char *name, const int *mask, int nmask) {
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/sysvipc/%s", name);
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s: %s\n", path, errname(errno));
		return;
	}
	printf("%s:\n", path);
	int first = 1;
	while (fgets(line, sizeof line, f)) {
		if (first) {
			printf("%s", line);
			first = 0;
			continue;
		}
		char *save, *tok = strtok_r(line, " \n", &save);
		for (int col = 0; tok; col++, tok = strtok_r(NULL, " \n", &save)) {
			int masked = 0;
			for (int i = 0; i < nmask; i++)
				masked |= mask[i] == col;
			printf("%s%s", col ? " " : "", masked ? "-" : tok);
		}
		printf("\n");
	}
	fclose(f);
}

static void cat(const char *path) {
	char buf[256];
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s: %s\n", path, errname(errno));
		return;
	}
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	printf("%s: %s", path, buf);
}

static void ipcs(char **args, int n) {
	char *argv[16] = {"ipcs"};
	char label[256] = "ipcs";
	for (int i = 0; i < n && i < 14; i++) {
		argv[i + 1] = args[i];
		strcat(label, " ");
		strcat(label, args[i]);
	}
	printf("== %s\n", label);
	pid_t c = fork();
	if (c == 0) {
		execvp("ipcs", argv);
		_exit(127);
	}
	int st;
	waitpid(c, &st, 0);
	printf("== status %d\n", WEXITSTATUS(st));
}

int main(int argc, char **argv) {
	init_output();
	if (unshare(CLONE_NEWIPC) < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
		die("unshare");

	int shm = shmget(0x1111, 10000, IPC_CREAT | 0640);
	int dest = shmget(0x1112, 4096, IPC_CREAT | 0600);
	int sem = semget(0x2222, 3, IPC_CREAT | 0660);
	int msg = msgget(0x3333, IPC_CREAT | 0622);
	if (shm < 0 || dest < 0 || sem < 0 || msg < 0)
		die("get");
	struct {
		long type;
		char text[8];
	} m = {1, "hello"};
	msgsnd(msg, &m, 5, 0);
	msgsnd(msg, &m, 3, 0);
	struct sembuf op = {1, 2, 0};
	semop(sem, &op, 1);
	char *p = shmat(shm, NULL, 0);
	/* Every page touched: the sandbox populates the fault-around window
	 * (within the segment) on a fault, Linux only the faulting page. */
	memset(p, 1, 10000);
	char *d = shmat(dest, NULL, 0);
	d[0] = 1;
	shmctl(dest, IPC_RMID, NULL);
	shmctl(shm, SHM_LOCK, NULL);

	/* shm: key shmid perms size cpid lpid nattch uid gid cuid cgid atime
	 * dtime ctime rss swap. */
	sysvipc("shm", (int[]){4, 5, 11, 12, 13}, 5);
	/* sem: key semid perms nsems uid gid cuid cgid otime ctime. */
	sysvipc("sem", (int[]){8, 9}, 2);
	/* msg: key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid
	 * stime rtime ctime. */
	sysvipc("msg", (int[]){5, 6, 11, 12, 13}, 5);
	cat("/proc/sys/kernel/shmmax");
	cat("/proc/sys/kernel/shmall");
	cat("/proc/sys/kernel/shmmni");
	cat("/proc/sys/kernel/sem");
	cat("/proc/sys/kernel/msgmax");
	cat("/proc/sys/kernel/msgmnb");
	cat("/proc/sys/kernel/msgmni");
	cat("/proc/sys/kernel/shm_rmid_forced");

	int start = 1;
	for (int i = 1; i <= argc; i++) {
		if (i == argc || strcmp(argv[i], "--") == 0) {
			ipcs(argv + start, i - start);
			start = i + 1;
		}
	}

	/* The limits as sysctls change them. */
	FILE *f = fopen("/proc/sys/kernel/msgmax", "w");
	if (f) {
		fprintf(f, "4096\n");
		fclose(f);
	}
	cat("/proc/sys/kernel/msgmax");
	char big[5000] = {0};
	*(long *)big = 1;
	report("msgsnd past the new msgmax", msgsnd(msg, big, 4096 + 1, IPC_NOWAIT));
	f = fopen("/proc/sys/kernel/shmmax", "w");
	if (f) {
		fprintf(f, "8192\n");
		fclose(f);
	}
	report("shmget past the new shmmax", shmget(IPC_PRIVATE, 8193, 0600));
	f = fopen("/proc/sys/kernel/sem", "w");
	if (f) {
		fprintf(f, "5 100 3 10\n");
		fclose(f);
	}
	cat("/proc/sys/kernel/sem");
	report("semget past the new semmsl", semget(IPC_PRIVATE, 6, 0600));
	struct sembuf ops[4] = {{0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}};
	report("semop past the new semopm", semop(sem, ops, 4));
	f = fopen("/proc/sys/kernel/shmmni", "w");
	if (f) {
		fprintf(f, "2\n");
		fclose(f);
	}
	report("shmget past the new shmmni", shmget(IPC_PRIVATE, 100, 0600));
	f = fopen("/proc/sys/kernel/msgmni", "w");
	report("write bad msgmni", f && fprintf(f, "-5\n") > 0 && fflush(f) == 0 ? 0 : -1);
	if (f)
		fclose(f);
	return 0;
}
