/* sock_devioctl.c: interface ioctls through sockets of every family, and
 * bad writes to /proc/sys/net knobs.
 *
 * Linux answers the interface queries (SIOCGIFINDEX, SIOCGIFFLAGS...) on
 * any socket: a family's ioctl that does not know one hands it to the
 * device layer (sock_do_ioctl -> dev_ioctl), so busybox ip/ifconfig may ask
 * through an AF_UNIX or AF_NETLINK socket. The address queries
 * (SIOCGIFADDR...) are AF_INET's own. Run in a network namespace with only
 * lo up (the sandbox's --network=none).
 *
 *   sock_devioctl          the ioctls
 *   sock_devioctl sysctl   bad values written to /proc/sys/net knobs
 */
#include "common.h"

#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static void ifreq_queries(const char *fam, int s) {
	struct ifreq ifr;
	static const struct {
		const char *name;
		unsigned long cmd;
	} byname[] = {
		{"SIOCGIFINDEX", SIOCGIFINDEX},	    {"SIOCGIFFLAGS", SIOCGIFFLAGS},
		{"SIOCGIFMTU", SIOCGIFMTU},	    {"SIOCGIFHWADDR", SIOCGIFHWADDR},
		{"SIOCGIFTXQLEN", SIOCGIFTXQLEN},   {"SIOCGIFMETRIC", SIOCGIFMETRIC},
		{"SIOCGIFADDR", SIOCGIFADDR},	    {"SIOCGIFNETMASK", SIOCGIFNETMASK},
		{"SIOCGIFBRDADDR", SIOCGIFBRDADDR},
	};
	for (size_t i = 0; i < sizeof(byname) / sizeof(byname[0]); i++) {
		memset(&ifr, 0, sizeof(ifr));
		strcpy(ifr.ifr_name, "lo");
		int r = ioctl(s, byname[i].cmd, &ifr);
		if (r == -1) {
			printf("%s %s(lo) = -1 %s\n", fam, byname[i].name, errname(errno));
			continue;
		}
		switch (byname[i].cmd) {
		case SIOCGIFINDEX:
			printf("%s %s(lo) = %d\n", fam, byname[i].name, ifr.ifr_ifindex);
			break;
		case SIOCGIFFLAGS:
			printf("%s %s(lo) = %#x\n", fam, byname[i].name, ifr.ifr_flags & 0xffff);
			break;
		case SIOCGIFMTU:
			printf("%s %s(lo) = %d\n", fam, byname[i].name, ifr.ifr_mtu);
			break;
		case SIOCGIFHWADDR:
			printf("%s %s(lo) = family %d\n", fam, byname[i].name, ifr.ifr_hwaddr.sa_family);
			break;
		case SIOCGIFTXQLEN:
			printf("%s %s(lo) = %d\n", fam, byname[i].name, ifr.ifr_qlen);
			break;
		case SIOCGIFMETRIC:
			printf("%s %s(lo) = %d\n", fam, byname[i].name, ifr.ifr_metric);
			break;
		default: {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
			printf("%s %s(lo) = family %d %s\n", fam, byname[i].name, sin->sin_family,
			       inet_ntoa(sin->sin_addr));
		}
		}
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "nosuch0");
	reportf(ioctl(s, SIOCGIFINDEX, &ifr), "%s SIOCGIFINDEX(nosuch0)", fam);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = 1;
	int r = ioctl(s, SIOCGIFNAME, &ifr);
	if (r == -1)
		printf("%s SIOCGIFNAME(1) = -1 %s\n", fam, errname(errno));
	else
		printf("%s SIOCGIFNAME(1) = %s\n", fam, ifr.ifr_name);
	reportf(ioctl(s, SIOCGIFINDEX, (void *)8), "%s SIOCGIFINDEX(bad pointer)", fam);

	char buf[16 * sizeof(struct ifreq)];
	struct ifconf ifc = {.ifc_len = sizeof(buf), .ifc_buf = buf};
	r = ioctl(s, SIOCGIFCONF, &ifc);
	if (r == -1)
		printf("%s SIOCGIFCONF = -1 %s\n", fam, errname(errno));
	else
		printf("%s SIOCGIFCONF = %d entries\n", fam, ifc.ifc_len / (int)sizeof(struct ifreq));
	/* A request no layer knows. */
	reportf(ioctl(s, SIOCDEVPRIVATE + 14, &ifr), "%s SIOCDEVPRIVATE+14", fam);
	reportf(ioctl(s, 0x89ff, &ifr), "%s 0x89ff", fam);
}

static void ioctls(void) {
	static const struct {
		const char *name;
		int domain, type, proto;
	} fams[] = {
		{"inet-dgram", AF_INET, SOCK_DGRAM, 0},
		{"unix-stream", AF_UNIX, SOCK_STREAM, 0},
		{"unix-dgram", AF_UNIX, SOCK_DGRAM, 0},
		{"netlink-route", AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */},
	};
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		int s = socket(fams[i].domain, fams[i].type | SOCK_CLOEXEC, fams[i].proto);
		if (s < 0) {
			printf("%s socket = -1 %s\n", fams[i].name, errname(errno));
			continue;
		}
		ifreq_queries(fams[i].name, s);
		close(s);
	}
}

/* write_knob writes v to /proc/sys/net/<knob> in one write and reports. */
static void write_knob(const char *knob, const char *v) {
	char path[256];
	snprintf(path, sizeof(path), "/proc/sys/net/%s", knob);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("open %s = -1 %s\n", knob, errname(errno));
		return;
	}
	ssize_t n = write(fd, v, strlen(v));
	const char *shown = strcmp(v, "\n") == 0 ? "\\n" : v;
	if (n < 0)
		printf("write %s \"%s\" = -1 %s\n", knob, shown, errname(errno));
	else
		printf("write %s \"%s\" = %zd\n", knob, shown, n);
	close(fd);
}

/* read_knob prints /proc/sys/net/<knob>'s contents. */
static void read_knob(const char *knob) {
	char path[256], buf[128];
	snprintf(path, sizeof(path), "/proc/sys/net/%s", knob);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("open %s = -1 %s\n", knob, errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		printf("read %s = -1 %s\n", knob, errname(errno));
		return;
	}
	buf[n] = 0;
	printf("read %s = %s", knob, buf);
}

static void sysctls(void) {
	static const char *bad[] = {"abc", "12abc", "-5", "99999999999999999999", " ", "\n"};
	static const char *knobs[] = {"core/somaxconn", "ipv4/ip_local_port_range", "ipv4/tcp_rmem",
				      "ipv4/tcp_wmem", "ipv4/ip_unprivileged_port_start"};
	for (size_t k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			write_knob(knobs[k], bad[i]);
	/* Ranges the knob itself refuses. */
	write_knob("ipv4/ip_local_port_range", "40000 30000");
	write_knob("ipv4/ip_local_port_range", "30000");
	write_knob("ipv4/tcp_rmem", "4096 131072");
	write_knob("ipv4/ping_group_range", "abc def");
	write_knob("ipv4/ping_group_range", "5 1");
	/* Not above the local port range's low end (32768). */
	write_knob("ipv4/ip_unprivileged_port_start", "70000");
	write_knob("ipv4/ip_unprivileged_port_start", "40000");
	/* ip_forward keeps the integer written; any but 0 turns forwarding on
	 * (runtime-tools' linux_sysctl sets it through config.json). */
	static const char *fwd[] = {"1", "2", "-1", "0"};
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		write_knob("ipv4/ip_forward", fwd[i]);
		read_knob("ipv4/ip_forward");
	}
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && strcmp(argv[1], "sysctl") == 0)
		sysctls();
	else
		ioctls();
	return 0;
}
