/* mntlockprop.c: propagation between a mount namespace and a copy of it
 * made for a new user namespace (issue 15 item 6).
 *
 * Root's namespace has a shared tmpfs s. U unshares a user and a mount
 * namespace: its copy of s is a slave of s's group, not a peer (Linux's
 * CL_SHARED_TO_SLAVE), so what U mounts in it does not reach root. What
 * root mounts in s reaches U locked (its flags), except the top of what
 * propagated, which U may unmount; the submounts of an rbind stay locked.
 */
#include "common.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

static char base[64];

static char *p(const char *rel) { return path_in(base, rel); }

/* kind prints whether the mount at rel is mounted, shared, a slave. */
static void kind(const char *who, const char *rel) {
	char line[1024], mp[256];
	const char *k = "not mounted";
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "%*s %*s %*s %*s %255s", mp) != 1 || strcmp(mp, p(rel)) != 0)
			continue;
		char *dash = strstr(line, " - ");
		if (dash)
			*dash = 0;
		int sh = strstr(line, " shared:") != NULL, sl = strstr(line, " master:") != NULL;
		k = sh && sl ? "shared and slave" : sh ? "shared" : sl ? "slave" : "private";
	}
	if (f)
		fclose(f);
	printf("%s: %s is %s\n", who, rel, k);
}

int main(void) {
	init_output();
	snprintf(base, sizeof base, "/tmp/mntlockpropXXXXXX");
	if (!mkdtemp(base))
		return 1;
	pid_t r = fork();
	if (r == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			printf("private namespace: %s\n", errname(errno));
			_exit(1);
		}
		mkdir(p("s"), 0755);
		mkdir(p("src"), 0755);
		report("root: mount tmpfs on s", mount("t", p("s"), "tmpfs", 0, NULL));
		report("root: make s shared", mount(NULL, p("s"), NULL, MS_SHARED, NULL));
		mkdir(p("s/u"), 0755);
		mkdir(p("s/r"), 0755);
		mkdir(p("s/q"), 0755);
		report("root: mount tmpfs on src", mount("t", p("src"), "tmpfs", 0, NULL));
		mkdir(p("src/sub"), 0755);
		report("root: mount tmpfs on src/sub", mount("t", p("src/sub"), "tmpfs", MS_NOEXEC, NULL));

		int ready[2], go[2], done[2];
		if (pipe(ready) < 0 || pipe(go) < 0 || pipe(done) < 0)
			_exit(1);
		pid_t u = fork();
		if (u == 0) {
			char m[64];
			uid_t uid = geteuid();
			gid_t gid = getegid();
			if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
				printf("U: unshare: %s\n", errname(errno));
				_exit(1);
			}
			snprintf(m, sizeof m, "0 %d 1", uid);
			write_text("/proc/self/uid_map", m);
			write_text("/proc/self/setgroups", "deny");
			snprintf(m, sizeof m, "0 %d 1", gid);
			write_text("/proc/self/gid_map", m);
			kind("U", "s");
			report("U: mount tmpfs on s/u", mount("t", p("s/u"), "tmpfs", 0, NULL));
			put_byte(ready[1]);
			wait_byte(go[0]); /* root mounted s/r and rbound src on s/q */
			kind("U", "s/r");
			report("U: remount,bind s/r without nosuid (locked)", mount(NULL, p("s/r"), NULL, MS_REMOUNT | MS_BIND, NULL));
			report("U: remount,bind s/r,nosuid", mount(NULL, p("s/r"), NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL));
			report("U: umount s/r (the top of what propagated)", umount2(p("s/r"), 0));
			kind("U", "s/q/sub");
			report("U: umount s/q/sub (under the top: locked)", umount2(p("s/q/sub"), 0));
			report("U: remount,bind s/q/sub without noexec (locked)", mount(NULL, p("s/q/sub"), NULL, MS_REMOUNT | MS_BIND, NULL));
			report("U: umount -l s/q", umount2(p("s/q"), MNT_DETACH));
			put_byte(done[1]);
			_exit(0);
		}
		wait_byte(ready[0]);
		kind("root", "s/u");
		report("root: mount tmpfs on s/r nosuid", mount("t", p("s/r"), "tmpfs", MS_NOSUID, NULL));
		report("root: rbind src on s/q", mount(p("src"), p("s/q"), NULL, MS_BIND | MS_REC, NULL));
		put_byte(go[1]);
		wait_byte(done[0]);
		int st;
		waitpid(u, &st, 0);
		printf("U exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		kind("root", "s/r");
		kind("root", "s/q/sub");
		_exit(0);
	}
	int st;
	waitpid(r, &st, 0);
	rmdir(p("src"));
	rmdir(p("s"));
	rmdir(base);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
