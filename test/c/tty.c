/* tty: pseudo-terminals made with openpty/posix_openpt, their settings, the
 * line discipline (canonical input, echo, erase and kill, VMIN/VTIME,
 * output processing, flow control) and job control (controlling terminal,
 * foreground group, ^C/^\/^Z, SIGTTIN/SIGTTOU, SIGWINCH, hangups).
 *
 * Everything runs in a child that made itself a session leader with
 * setsid(), so the result does not depend on whether the test was started
 * from a terminal. Output the master reads is collected up to a marker the
 * replica writes afterwards (the pty keeps the order), so nothing depends
 * on timing. Only one process prints at a time; the others report through
 * pipes or wait. Terminal numbers are not printed (they differ between the
 * host and the sandbox), only whether names and numbers agree. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#ifndef BOTHER
#define BOTHER 0010000
#endif

static int M = -1, S = -1; /* the current pair */

static void statusline(const char *label, int st);
static const char *signame(int sig);

/* pesc prints label and the bytes escaped. */
static void pesc(const char *label, const char *b, int n) {
	printf("%s: \"", label);
	for (int i = 0; i < n; i++) {
		unsigned char c = b[i];
		if (c == '\n')
			printf("\\n");
		else if (c == '\r')
			printf("\\r");
		else if (c == '\t')
			printf("\\t");
		else if (c == '\b')
			printf("\\b");
		else if (c == '\\' || c == '"')
			printf("\\%c", c);
		else if (c < 32 || c >= 127)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf("\" (%d)\n", n);
}

static void newpair(void) {
	if (M >= 0)
		close(M);
	if (S >= 0)
		close(S);
	if (openpty(&M, &S, NULL, NULL, NULL) < 0)
		die("openpty");
}

static void put(const char *s) {
	if (write(M, s, strlen(s)) != (ssize_t)strlen(s))
		die("write master");
}

/* drain prints what the master has to read, up to a marker the replica
 * writes now. Input written to the master is processed asynchronously by
 * Linux, so drain is only called once the replica has read what was
 * written (its echo is then in the master's queue before the marker). */
static void drain(const char *label) {
	char buf[8192];
	int n = 0;
	if (write(S, "#", 1) != 1)
		die("write marker");
	for (;;) {
		int k = read(M, buf + n, sizeof buf - n);
		if (k <= 0)
			die("read master");
		n += k;
		if (buf[n - 1] == '#')
			break;
	}
	pesc(label, buf, n - 1);
}

/* sread reads the replica once and prints what it got. */
static void sread(const char *label) {
	char buf[4096];
	int n = read(S, buf, sizeof buf);
	if (n < 0)
		reportf(-1, "%s", label);
	else
		pesc(label, buf, n);
}

static void setlflag(tcflag_t on, tcflag_t off) {
	struct termios t;
	tcgetattr(S, &t);
	t.c_lflag = (t.c_lflag | on) & ~off;
	if (tcsetattr(S, TCSANOW, &t) < 0)
		die("tcsetattr");
}

static void setiflag(tcflag_t on, tcflag_t off) {
	struct termios t;
	tcgetattr(S, &t);
	t.c_iflag = (t.c_iflag | on) & ~off;
	if (tcsetattr(S, TCSANOW, &t) < 0)
		die("tcsetattr");
}

static void section(const char *name) { printf("== %s\n", name); }

/* Names, numbers and the ptmx interface. */
static void test_pty(void) {
	section("pty");
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	report("posix_openpt", m >= 0 ? 0 : -1);
	int n = -1;
	report("TIOCGPTN", ioctl(m, TIOCGPTN, &n) < 0 ? -1 : 0);
	char want[64];
	snprintf(want, sizeof want, "/dev/pts/%d", n);
	char *name = ptsname(m);
	yesno("ptsname is /dev/pts/TIOCGPTN", name && strcmp(name, want) == 0);
	int lk = -1;
	ioctl(m, TIOCGPTLCK, &lk);
	printf("locked before unlockpt: %d\n", lk);
	report("open locked replica", open(want, O_RDWR | O_NOCTTY));
	report("grantpt", grantpt(m));
	report("unlockpt", unlockpt(m));
	ioctl(m, TIOCGPTLCK, &lk);
	printf("locked after unlockpt: %d\n", lk);
	int s = open(want, O_RDWR | O_NOCTTY);
	report("open replica", s >= 0 ? 0 : -1);
	yesno("isatty(master)", isatty(m));
	yesno("isatty(replica)", isatty(s));
	char tn[64] = "";
	report("ttyname_r(replica)", ttyname_r(s, tn, sizeof tn));
	yesno("ttyname is ptsname", strcmp(tn, want) == 0);
	struct stat st, st2, sm;
	fstat(s, &st);
	stat(want, &st2);
	fstat(m, &sm);
	yesno("replica is a character device", S_ISCHR(st.st_mode));
	printf("replica major: %u\n", major(st.st_rdev));
	yesno("replica minor is its number", (int)minor(st.st_rdev) == n);
	yesno("fstat and stat agree", st.st_ino == st2.st_ino && st.st_dev == st2.st_dev && st.st_rdev == st2.st_rdev);
	printf("master rdev: %u,%u\n", major(sm.st_rdev), minor(sm.st_rdev));
	unsigned int dev = 0;
	report("TIOCGDEV master", ioctl(m, TIOCGDEV, &dev));
	yesno("TIOCGDEV is the replica", dev == (unsigned)st.st_rdev);
	int d = -1;
	report("TIOCGETD", ioctl(s, TIOCGETD, &d));
	printf("line discipline: %d\n", d);
	d = 2;
	report("TIOCSETD 2", ioctl(s, TIOCSETD, &d));
	report("TIOCGPTN on replica", ioctl(s, TIOCGPTN, &n));
	int p = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	report("TIOCGPTPEER", p >= 0 ? 0 : -1);
	if (p >= 0) {
		struct stat sp;
		fstat(p, &sp);
		yesno("peer is the replica", sp.st_rdev == st.st_rdev);
		char pn[64] = "";
		ttyname_r(p, pn, sizeof pn);
		yesno("peer ttyname", strcmp(pn, want) == 0);
		close(p);
	}
	p = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CREAT);
	report("TIOCGPTPEER with O_CREAT", p >= 0 ? 0 : -1);
	if (p >= 0)
		close(p);
	report("TIOCGPTPEER on replica", ioctl(s, TIOCGPTPEER, O_RDWR));
	report("TCGETS bad pointer", ioctl(s, TCGETS, (void *)8));
	report("TIOCMGET", ioctl(s, TIOCMGET, &d));
	report("unknown ioctl", ioctl(s, 0x54ff, 0));
	int ex = -1;
	report("TIOCEXCL", ioctl(s, TIOCEXCL));
	ioctl(s, TIOCGEXCL, &ex);
	printf("exclusive: %d\n", ex);
	report("TIOCNXCL", ioctl(s, TIOCNXCL));
	int outq = -1, inq = -1;
	ioctl(s, TIOCOUTQ, &outq);
	ioctl(s, FIONREAD, &inq);
	printf("TIOCOUTQ %d FIONREAD %d\n", outq, inq);
	/* A fresh master: writable, not readable. */
	struct pollfd pf = {m, POLLIN | POLLOUT, 0};
	poll(&pf, 1, 0);
	printf("master poll: %#x\n", pf.revents);
	close(s);
	pf.revents = 0;
	poll(&pf, 1, 0);
	printf("master poll after the replica closed: %#x\n", pf.revents);
	char c;
	report("master read after the replica closed", read(m, &c, 1));
	s = open(want, O_RDWR | O_NOCTTY);
	close(m);
	pf = (struct pollfd){s, POLLIN | POLLOUT, 0};
	poll(&pf, 1, 0);
	printf("replica poll after the master closed: %#x\n", pf.revents);
	report("replica read after hangup", read(s, &c, 1));
	report("replica write after hangup", write(s, "x", 1));
	struct termios t;
	report("tcgetattr after hangup", tcgetattr(s, &t));
	report("TIOCSPGRP after hangup", ioctl(s, TIOCSPGRP, &d));
	report("open after the master closed", open(want, O_RDWR | O_NOCTTY));
	close(s);
	report("open /dev/ptmx write-only", (m = open("/dev/ptmx", O_WRONLY | O_NOCTTY)) >= 0 ? 0 : -1);
	close(m);
	report("open /dev/pts/ptmx", (m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY)) >= 0 ? 0 : -1);
	close(m);
	struct stat pt;
	stat("/dev/pts/ptmx", &pt);
	printf("/dev/pts/ptmx: mode %o rdev %u,%u\n", pt.st_mode, major(pt.st_rdev), minor(pt.st_rdev));
	stat("/dev/ptmx", &pt);
	printf("/dev/ptmx: mode %o rdev %u,%u\n", pt.st_mode, major(pt.st_rdev), minor(pt.st_rdev));
}

/* Settings: defaults, the layouts, speeds, what the pty forces. */
static void test_termios(void) {
	section("termios");
	newpair();
	struct termios t, tm;
	memset(&t, 0, sizeof t);
	memset(&tm, 0, sizeof tm);
	tcgetattr(S, &t);
	tcgetattr(M, &tm);
	printf("iflag %o oflag %o cflag %o lflag %o\n", t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag);
	printf("cc:");
	for (int i = 0; i < 17; i++)
		printf(" %d", t.c_cc[i]);
	printf("\n");
	yesno("master shows the replica's settings", t.c_iflag == tm.c_iflag && t.c_oflag == tm.c_oflag &&
							       t.c_cflag == tm.c_cflag && t.c_lflag == tm.c_lflag &&
							       memcmp(t.c_cc, tm.c_cc, 17) == 0);
	printf("speed in %u out %u\n", (unsigned)cfgetispeed(&t), (unsigned)cfgetospeed(&t));
	cfsetspeed(&t, B9600);
	t.c_cflag = (t.c_cflag & ~CSIZE) | CS7 | PARENB;
	report("tcsetattr 9600 cs7 parenb", tcsetattr(S, TCSANOW, &t));
	tcgetattr(S, &t);
	printf("cflag %o speed %u\n", t.c_cflag, (unsigned)cfgetospeed(&t));
	struct termios2 {
		tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
		cc_t c_line, c_cc[19];
		speed_t c_ispeed, c_ospeed;
	} t2;
	report("TCGETS2", ioctl(S, TCGETS2, &t2));
	printf("termios2 speeds %u %u\n", t2.c_ispeed, t2.c_ospeed);
	t2.c_cflag = (t2.c_cflag & ~CBAUD) | BOTHER;
	t2.c_ospeed = 12345;
	report("TCSETS2 BOTHER 12345", ioctl(S, TCSETS2, &t2));
	ioctl(S, TCGETS2, &t2);
	printf("termios2 cflag %o speeds %u %u\n", t2.c_cflag, t2.c_ispeed, t2.c_ospeed);
	struct termio {
		unsigned short c_iflag, c_oflag, c_cflag, c_lflag;
		unsigned char c_line, c_cc[8];
	} to;
	report("TCGETA", ioctl(S, TCGETA, &to));
	printf("termio lflag %o cc0 %d\n", to.c_lflag, to.c_cc[0]);
	to.c_lflag &= ~ECHO;
	report("TCSETA -echo", ioctl(S, TCSETA, &to));
	tcgetattr(S, &t);
	yesno("echo off", !(t.c_lflag & ECHO));
	report("TCSETSW", ioctl(S, TCSETSW, &t));
	report("TCSETSF", ioctl(S, TCSETSF, &t));
	struct termios lk;
	report("TIOCGLCKTRMIOS", ioctl(S, TIOCGLCKTRMIOS, &lk));
	printf("locked iflag %o\n", lk.c_iflag);
	struct winsize ws = {0};
	report("TIOCGWINSZ", ioctl(S, TIOCGWINSZ, &ws));
	printf("window %dx%d\n", ws.ws_row, ws.ws_col);
	ws.ws_row = 24;
	ws.ws_col = 80;
	report("TIOCSWINSZ via master", ioctl(M, TIOCSWINSZ, &ws));
	memset(&ws, 0, sizeof ws);
	ioctl(S, TIOCGWINSZ, &ws);
	printf("window %dx%d\n", ws.ws_row, ws.ws_col);
	int sc = -1;
	report("TIOCGSOFTCAR", ioctl(S, TIOCGSOFTCAR, &sc));
	printf("softcar %d\n", sc);
	report("tcflush bad queue", tcflush(S, 7));
	report("tcflow bad action", tcflow(S, 9));
	report("tcsendbreak", tcsendbreak(S, 0));
	report("tcdrain", tcdrain(S));
	report("TIOCSBRK", ioctl(S, TIOCSBRK));
	report("TIOCCBRK", ioctl(S, TIOCCBRK));
}

/* Canonical mode: lines, erase and kill, EOF, echo flags. */
static void test_canon(void) {
	section("canon");
	newpair();
	put("abc\n");
	sread("line");
	drain("echo");
	put("hello\r");
	sread("CR becomes NL (ICRNL)");
	drain("echo");
	put("ab\x7f" "c\n");
	sread("erase");
	drain("echo");
	put("abc\x15" "def\n");
	sread("kill");
	drain("echo");
	put("foo bar\x17" "baz\n");
	sread("werase");
	drain("echo");
	put("a\tb\x7f\x7f" "c\n");
	sread("erase a tab");
	drain("echo");
	put("x\x01\x7f" "y\n");
	sread("erase a control character");
	drain("echo");
	put("\x16\x03\x16\x7f\n");
	sread("lnext");
	drain("echo");
	put("pre\x12" "post\n");
	sread("reprint");
	drain("echo");
	put("ab\x04");
	sread("EOF after text");
	put("\x04");
	sread("EOF at line start");
	drain("echo");
	put("one\ntwo\n");
	char b2[2];
	int n = read(S, b2, 2);
	pesc("short read", b2, n);
	sread("rest of the line");
	sread("next line");
	drain("echo");
	/* A line of more than 4095 characters keeps 4095 and the newline. */
	char big[5000];
	memset(big, 'z', sizeof big);
	big[sizeof big - 1] = '\n';
	if (write(M, big, sizeof big) != sizeof big)
		die("write big");
	int total = 0, k;
	char rb[8192];
	k = read(S, rb, sizeof rb);
	total = k;
	printf("long line: read %d, last is newline: %s\n", total, k > 0 && rb[k - 1] == '\n' ? "yes" : "no");
	/* The echo of the long line: drain all of it. */
	char eb[16384];
	int en = 0;
	write(S, "#", 1);
	for (;;) {
		k = read(M, eb + en, sizeof eb - en);
		if (k <= 0)
			break;
		en += k;
		if (eb[en - 1] == '#')
			break;
	}
	printf("long line echo: %d bytes\n", en - 1);

	setlflag(0, ECHOCTL);
	put("x\x01y\n");
	sread("-echoctl");
	drain("echo");
	setlflag(ECHOCTL, ECHOE);
	put("ab\x7f\n");
	sread("-echoe");
	drain("echo");
	setlflag(ECHOE, ECHOKE);
	put("ab\x15" "c\n");
	sread("-echoke");
	drain("echo");
	setlflag(ECHOPRT | ECHOKE, 0);
	put("abc\x7f\x7f" "d\n");
	sread("echoprt");
	drain("echo");
	setlflag(ECHONL, ECHO | ECHOPRT);
	put("quiet\n");
	sread("-echo echonl");
	drain("echo");
	setlflag(ECHO, ECHONL);
	setiflag(IGNCR, 0);
	put("a\rb\n");
	sread("igncr");
	setiflag(INLCR, IGNCR);
	put("c\n\r");
	sread("inlcr");
	drain("echo");
	setiflag(ICRNL, INLCR);
	struct termios t;
	tcgetattr(S, &t);
	t.c_cc[VEOL] = ';';
	t.c_cc[VERASE] = '#' + 1;
	tcsetattr(S, TCSANOW, &t);
	put("first;second$\n");
	sread("veol");
	sread("after veol");
	drain("echo");
	t.c_cc[VERASE] = 0x7f;
	t.c_cc[VEOL] = 0;
	tcsetattr(S, TCSANOW, &t);
	put("full\n");
	struct pollfd pf = {S, POLLIN, 0};
	poll(&pf, 1, 5000);
	int inq = -1;
	ioctl(S, FIONREAD, &inq);
	printf("FIONREAD a line: %d\n", inq);
	sread("line");
	put("abc\n");
	poll(&pf, 1, 5000);
	report("tcflush input", tcflush(S, TCIFLUSH));
	ioctl(S, FIONREAD, &inq);
	printf("FIONREAD after flush: %d\n", inq);
	drain("echo");
	/* Switching to raw mode makes a partial line readable. */
	put("part");
	put("ial\n");
	sread("complete line");
	put("half");
	setlflag(0, ICANON);
	sread("partial line after -icanon");
	setlflag(ICANON, 0);
	drain("echo");
}

/* Non-canonical reads: VMIN and VTIME. */
static void test_raw(void) {
	section("raw");
	newpair();
	struct termios t;
	tcgetattr(S, &t);
	cfmakeraw(&t);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	tcsetattr(S, TCSANOW, &t);
	char buf[64];
	report("VMIN 0 VTIME 0, nothing", read(S, buf, sizeof buf));
	int fl = fcntl(S, F_GETFL);
	fcntl(S, F_SETFL, fl | O_NONBLOCK);
	report("VMIN 0 VTIME 0 O_NONBLOCK", read(S, buf, sizeof buf));
	t.c_cc[VMIN] = 1;
	tcsetattr(S, TCSANOW, &t);
	report("VMIN 1 O_NONBLOCK, nothing", read(S, buf, sizeof buf));
	fcntl(S, F_SETFL, fl);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 1;
	tcsetattr(S, TCSANOW, &t);
	report("VMIN 0 VTIME 1, nothing (times out)", read(S, buf, sizeof buf));
	t.c_cc[VMIN] = 4;
	t.c_cc[VTIME] = 0;
	tcsetattr(S, TCSANOW, &t);
	put("ab");
	put("cd");
	int n = read(S, buf, sizeof buf);
	pesc("VMIN 4 (two writes of 2)", buf, n);
	put("xyz");
	n = read(S, buf, 2);
	pesc("VMIN 4 into 2 bytes", buf, n);
	t.c_cc[VMIN] = 5;
	t.c_cc[VTIME] = 1;
	tcsetattr(S, TCSANOW, &t);
	n = read(S, buf, sizeof buf);
	pesc("VMIN 5 VTIME 1 (inter-byte timeout)", buf, n);
	put("\x03\x1a\r\x7f");
	t.c_cc[VMIN] = 4;
	t.c_cc[VTIME] = 0;
	tcsetattr(S, TCSANOW, &t);
	n = read(S, buf, sizeof buf);
	pesc("raw bytes pass", buf, n);
	drain("no echo");
	/* ISIG without ICANON: ^C is a signal, not data. */
	t.c_lflag |= ISIG;
	t.c_cc[VMIN] = 1;
	tcsetattr(S, TCSANOW, &t);
	signal(SIGINT, SIG_IGN);
	put("\x03q");
	n = read(S, buf, sizeof buf);
	pesc("isig in raw mode", buf, n);
	signal(SIGINT, SIG_DFL);
}

/* Output processing. */
static void test_output(void) {
	section("output");
	newpair();
	const char *txt = "a\nb\r\tc\n\rd\n";
	struct {
		const char *name;
		tcflag_t on, off;
	} modes[] = {
		{"opost onlcr", 0, 0},
		{"-opost", 0, OPOST},
		{"-onlcr", 0, ONLCR},
		{"ocrnl", OCRNL, 0},
		{"onocr", ONOCR, 0},
		{"onlret -onlcr", ONLRET, ONLCR},
		{"olcuc", OLCUC, 0},
		{"tab3", TAB3, 0},
	};
	struct termios base;
	tcgetattr(S, &base);
	for (unsigned i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		struct termios t = base;
		t.c_oflag = (t.c_oflag | modes[i].on) & ~modes[i].off;
		tcsetattr(S, TCSANOW, &t);
		write(S, txt, strlen(txt));
		write(S, "xY\tz", 4);
		tcsetattr(S, TCSANOW, &base);
		write(S, "\n", 1);
		drain(modes[i].name);
	}
}

/* Flow control: ^S/^Q, IXANY, TCOOFF/TCOON, TCIOFF/TCION. */
static void test_flow(void) {
	section("flow");
	newpair();
	int fl = fcntl(S, F_GETFL);
	fcntl(S, F_SETFL, fl | O_NONBLOCK);
	put("\x13" "x\n");
	sread("after ^S");
	report("replica write while stopped", write(S, "w", 1));
	struct pollfd pf = {S, POLLOUT, 0};
	poll(&pf, 1, 0);
	printf("replica POLLOUT while stopped: %#x\n", pf.revents);
	put("\x11" "y\n");
	sread("after ^Q");
	report("replica write after ^Q", write(S, "w", 1));
	drain("echoes held while stopped, then output");
	setiflag(IXANY, 0);
	put("\x13" "a\n");
	sread("stopped, then any character restarts (ixany)");
	report("write", write(S, "v", 1));
	drain("output");
	setiflag(0, IXANY | IXON);
	put("\x13\x11" "b\n");
	sread("-ixon: ^S ^Q are data");
	drain("echo");
	setiflag(IXON, 0);
	report("TCOOFF", tcflow(S, TCOOFF));
	report("write while TCOOFF", write(S, "u", 1));
	put("\x11" "c\n");
	sread("^Q does not end TCOOFF");
	report("write", write(S, "u", 1));
	report("TCOON", tcflow(S, TCOON));
	report("write after TCOON", write(S, "u", 1));
	report("TCIOFF", tcflow(S, TCIOFF));
	report("TCION", tcflow(S, TCION));
	drain("output with STOP and START characters");
	fcntl(S, F_SETFL, fl);
}

/* Readiness through epoll, and a blocked reader woken by another process. */
static void test_readiness(void) {
	section("readiness");
	newpair();
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = M};
	epoll_ctl(ep, EPOLL_CTL_ADD, M, &ev);
	ev.data.fd = S;
	epoll_ctl(ep, EPOLL_CTL_ADD, S, &ev);
	struct epoll_event got[4];
	report("epoll_wait, nothing to read", epoll_wait(ep, got, 4, 0));
	/* A child writes to the replica once the parent waits. */
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		usleep(20000);
		write(S, "ping", 4);
		_exit(0);
	}
	int n = epoll_wait(ep, got, 4, -1);
	printf("epoll_wait: %d, the master: %s\n", n, n == 1 && got[0].data.fd == M ? "yes" : "no");
	waitpid(c, NULL, 0);
	char b[16];
	n = read(M, b, sizeof b);
	pesc("master read", b, n);
	/* A line typed: the replica becomes readable. */
	int ep2 = epoll_create1(0);
	epoll_ctl(ep2, EPOLL_CTL_ADD, S, &ev);
	put("line\n");
	n = epoll_wait(ep2, got, 4, -1);
	printf("replica readable: %d %s\n", n, n == 1 && got[0].events == EPOLLIN ? "EPOLLIN" : "?");
	close(ep2);
	sread("line");
	drain("echo");
	report("epoll_wait after reading both", epoll_wait(ep, got, 4, 0));
	/* A reader blocked on the replica, woken by the master. */
	fflush(stdout);
	c = fork();
	if (c == 0) {
		n = read(S, b, sizeof b);
		printf("blocked reader got: %.*s", n, b);
		fflush(stdout);
		_exit(0);
	}
	usleep(20000);
	put("wake\n");
	waitpid(c, NULL, 0);
	drain("echo");
	close(ep);
}

/* Packet mode of the master. */
static void test_packet(void) {
	section("packet");
	newpair();
	int one = 1, got = -1;
	report("TIOCPKT", ioctl(M, TIOCPKT, &one));
	ioctl(M, TIOCGPKT, &got);
	printf("packet mode: %d\n", got);
	report("TIOCPKT on replica", ioctl(S, TIOCPKT, &one));
	write(S, "hi", 2);
	char buf[64];
	int n = read(M, buf, sizeof buf);
	pesc("data packet", buf, n);
	tcflush(S, TCIFLUSH);
	n = read(M, buf, sizeof buf);
	pesc("flush-read status", buf, n);
	struct termios t;
	tcgetattr(S, &t);
	t.c_iflag &= ~IXON;
	tcsetattr(S, TCSANOW, &t);
	n = read(M, buf, sizeof buf);
	pesc("-ixon status", buf, n);
	int zero = 0;
	ioctl(M, TIOCPKT, &zero);
}

/* Job control runs in a session leader L whose controlling terminal is
 * the replica; the runner R keeps the master and serves L's requests on
 * it (send keys, read what the master has, resize, TIOCSIG, close), so
 * that only L prints while it lives. */

static int cmdw = -1, ackr = -1; /* L's ends */
static int late[2];              /* output of processes that outlive L */

static int readline(int fd, char *buf, int max) {
	int n = 0;
	while (n < max - 1) {
		int k = read(fd, buf + n, 1);
		if (k <= 0)
			return n > 0 ? n : -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return n;
}

/* esc writes src escaped as pesc prints it. */
static void esc(char *dst, const char *src, int n) {
	for (int i = 0; i < n; i++) {
		unsigned char c = src[i];
		if (c == '\n')
			dst += sprintf(dst, "\\n");
		else if (c == '\r')
			dst += sprintf(dst, "\\r");
		else if (c == '\b')
			dst += sprintf(dst, "\\b");
		else if (c < 32 || c >= 127)
			dst += sprintf(dst, "\\x%02x", c);
		else
			*dst++ = c;
	}
	*dst = 0;
}

/* ctl asks R to do cmd and returns its reply. */
static const char *ctl(const char *cmd) {
	static char reply[8192];
	write(cmdw, cmd, strlen(cmd));
	write(cmdw, "\n", 1);
	if (readline(ackr, reply, sizeof reply) < 0)
		strcpy(reply, "(no reply)");
	return reply;
}

static void key(const char *bytes) {
	char cmd[64] = "k";
	for (const char *p = bytes; *p; p++)
		sprintf(cmd + strlen(cmd), "%02x", (unsigned char)*p);
	ctl(cmd);
}

/* mdrain prints what the master has up to a marker L writes now. */
static void mdrain(const char *label) {
	if (write(S, "#", 1) != 1) {
		reportf(-1, "%s marker", label);
		return;
	}
	printf("%s: \"%s\"\n", label, ctl("d"));
}

static void serve(int cmdr, int ackw) {
	char line[256], out[16384];
	while (readline(cmdr, line, sizeof line) >= 0) {
		strcpy(out, "ok");
		if (line[0] == 'k') {
			char b[64];
			int n = 0;
			for (char *p = line + 1; p[0] && p[1]; p += 2) {
				unsigned v;
				sscanf(p, "%2x", &v);
				b[n++] = v;
			}
			if (write(M, b, n) != n)
				sprintf(out, "write: %s", errname(errno));
		} else if (line[0] == 'd') {
			char b[8192];
			int n = 0;
			for (;;) {
				int k = read(M, b + n, sizeof b - n);
				if (k <= 0) {
					sprintf(out, "read: %s", k < 0 ? errname(errno) : "EOF");
					n = -1;
					break;
				}
				n += k;
				if (b[n - 1] == '#')
					break;
			}
			if (n >= 0)
				esc(out, b, n - 1);
		} else if (line[0] == 'w') {
			struct winsize ws = {0};
			sscanf(line + 1, "%hu %hu", &ws.ws_row, &ws.ws_col);
			if (ioctl(M, TIOCSWINSZ, &ws) < 0)
				sprintf(out, "TIOCSWINSZ: %s", errname(errno));
		} else if (line[0] == 's') {
			if (ioctl(M, TIOCSIG, atoi(line + 1)) < 0)
				sprintf(out, "%s", errname(errno));
		} else if (line[0] == 'g') {
			int g = -1;
			if (ioctl(M, TIOCGPGRP, &g) < 0)
				sprintf(out, "%s", errname(errno));
			else
				sprintf(out, "%s", g == atoi(line + 1) ? "same" : "different");
		} else if (line[0] == 'h') {
			close(M);
			M = -1;
		}
		write(ackw, out, strlen(out));
		write(ackw, "\n", 1);
	}
}

/* in_session runs fn in a new session leader L whose controlling terminal
 * is a new pair's replica (acquired by opening it), serving its requests
 * on the master. */
static void in_session(const char *name, void (*fn)(void)) {
	newpair();
	char path[64];
	ptsname_r(M, path, sizeof path);
	close(S);
	S = -1;
	int c2r[2], r2c[2];
	pipe(c2r);
	pipe(r2c);
	pipe(late);
	fflush(stdout);
	pid_t l = fork();
	if (l == 0) {
		close(M);
		close(c2r[0]);
		close(r2c[1]);
		close(late[0]);
		cmdw = c2r[1];
		ackr = r2c[0];
		setsid();
		S = open(path, O_RDWR);
		if (S < 0)
			die("open replica");
		signal(SIGTTOU, SIG_IGN); /* L changes the foreground while in the background */
		fn();
		fflush(stdout);
		_exit(0);
	}
	close(c2r[1]);
	close(r2c[0]);
	close(late[1]);
	serve(c2r[0], r2c[1]);
	close(c2r[0]);
	close(r2c[1]);
	int st;
	waitpid(l, &st, 0);
	/* What processes that outlived L printed. */
	char buf[4096];
	int n;
	while ((n = read(late[0], buf, sizeof buf)) > 0)
		fwrite(buf, 1, n, stdout);
	close(late[0]);
	statusline(name, st);
	if (M >= 0)
		close(M);
	M = -1;
}

static int rep[2]; /* child → L reports */

static void say(const char *s) { write(rep[1], s, strlen(s)); }

static void hear(const char *label) {
	char buf[256];
	if (readline(rep[0], buf, sizeof buf) < 0)
		strcpy(buf, "(nothing)");
	printf("%s: %s\n", label, buf);
}

static volatile sig_atomic_t gotsig;
static void onsig(int sig) { gotsig = sig; }

static void catch(int sig) {
	struct sigaction sa = {0};
	sa.sa_handler = onsig;
	sigaction(sig, &sa, NULL);
}

static const char *signame(int sig) {
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGQUIT:
		return "SIGQUIT";
	case SIGTSTP:
		return "SIGTSTP";
	case SIGTTIN:
		return "SIGTTIN";
	case SIGTTOU:
		return "SIGTTOU";
	case SIGHUP:
		return "SIGHUP";
	case SIGWINCH:
		return "SIGWINCH";
	case SIGCONT:
		return "SIGCONT";
	case SIGKILL:
		return "SIGKILL";
	case SIGSTOP:
		return "SIGSTOP";
	}
	return "?";
}

static void statusline(const char *label, int st) {
	if (WIFSTOPPED(st))
		printf("%s: stopped by %s\n", label, signame(WSTOPSIG(st)));
	else if (WIFSIGNALED(st))
		printf("%s: killed by %s\n", label, signame(WTERMSIG(st)));
	else
		printf("%s: exit %d\n", label, WEXITSTATUS(st));
}

/* waitsig waits for a caught signal and says which. */
static void waitsig(void) {
	sigset_t none;
	sigemptyset(&none);
	while (!gotsig)
		sigsuspend(&none);
	say(signame(gotsig));
	say("\n");
}

/* bg forks a child in a process group of its own (in the background)
 * that runs fn and reports through rep. */
static pid_t bg(void (*fn)(void)) {
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, 0);
		signal(SIGTTOU, SIG_DFL); /* L ignores it */
		fn();
		_exit(0);
	}
	setpgid(c, c);
	return c;
}

static void readit(void) {
	char b[16];
	int n = read(S, b, sizeof b);
	say(n < 0 ? errname(errno) : "read");
	say("\n");
}

static void writeit(void) {
	int n = write(S, "w", 1);
	say(n < 0 ? errname(errno) : "wrote");
	say("\n");
}

static void setattrit(void) {
	struct termios t;
	tcgetattr(S, &t);
	int n = tcsetattr(S, TCSANOW, &t);
	say(n < 0 ? errname(errno) : "set");
	say("\n");
}

static void readit_ign(void) {
	signal(SIGTTIN, SIG_IGN);
	readit();
}

static void readit_blocked(void) {
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTTIN);
	sigprocmask(SIG_BLOCK, &s, NULL);
	readit();
}

static void writeit_ign(void) {
	signal(SIGTTOU, SIG_IGN);
	writeit();
}

static void setattrit_ign(void) {
	signal(SIGTTOU, SIG_IGN);
	setattrit();
}

static void readit_caught(void) {
	catch(SIGTTIN);
	char b[16];
	int n = read(S, b, sizeof b);
	say(n < 0 ? errname(errno) : "read");
	say(gotsig == SIGTTIN ? " after SIGTTIN\n" : "\n");
}

/* background: a job not in the foreground, as its reads, writes and
 * setting changes are answered. */
static void jc_background(void) {
	section("background jobs");
	struct {
		const char *name;
		void (*fn)(void);
	} jobs[] = {
		{"read", readit},
		{"read, SIGTTIN ignored", readit_ign},
		{"read, SIGTTIN blocked", readit_blocked},
		{"read, SIGTTIN caught", readit_caught},
		{"write", writeit},
		{"tcsetattr", setattrit},
		{"tcsetattr, SIGTTOU ignored", setattrit_ign},
	};
	for (unsigned i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
		pipe(rep);
		pid_t c = bg(jobs[i].fn);
		close(rep[1]);
		int st;
		waitpid(c, &st, WUNTRACED);
		if (WIFSTOPPED(st)) {
			statusline(jobs[i].name, st);
			/* Bring it to the foreground: its call completes. */
			tcsetpgrp(S, c);
			if (i == 0 || i == 3)
				key("in\n");
			kill(c, SIGCONT);
			hear("  in the foreground");
			waitpid(c, &st, 0);
			tcsetpgrp(S, getpgrp());
		} else {
			hear(jobs[i].name);
		}
		close(rep[0]);
		mdrain("  output");
	}
	setlflag(TOSTOP, 0);
	struct {
		const char *name;
		void (*fn)(void);
	} tostop[] = {{"write with tostop", writeit}, {"write with tostop, SIGTTOU ignored", writeit_ign}};
	for (int i = 0; i < 2; i++) {
		pipe(rep);
		pid_t c = bg(tostop[i].fn);
		close(rep[1]);
		int st;
		waitpid(c, &st, WUNTRACED);
		if (WIFSTOPPED(st)) {
			statusline(tostop[i].name, st);
			kill(c, SIGKILL);
			waitpid(c, &st, 0);
		} else {
			hear(tostop[i].name);
		}
		close(rep[0]);
	}
	setlflag(0, TOSTOP);
	mdrain("output");
}

/* The orphaned-group child: its parent exits, leaving it alone in its
 * group; its reads get EIO instead of stopping. */
static void orphan_read(void) {
	pid_t g = fork();
	if (g == 0) {
		/* Wait until the parent is gone. */
		while (getppid() == getpgrp() || kill(getpgrp(), 0) == 0)
			usleep(1000);
		readit();
		_exit(0);
	}
	_exit(0);
}

static void jc_orphan(void) {
	section("orphaned group");
	pipe(rep);
	pid_t c = bg(orphan_read);
	close(rep[1]);
	waitpid(c, NULL, 0);
	hear("read from an orphaned group");
	close(rep[0]);
	/* A group left orphaned with a stopped member gets SIGHUP and
	 * SIGCONT. */
	pipe(rep);
	fflush(stdout);
	c = fork();
	if (c == 0) {
		setpgid(0, 0);
		pid_t q = fork();
		if (q == 0) {
			catch(SIGHUP);
			raise(SIGSTOP);
			say(gotsig == SIGHUP ? "SIGHUP after continue\n" : "continued without SIGHUP\n");
			_exit(0);
		}
		int st;
		waitpid(q, &st, WUNTRACED);
		_exit(WIFSTOPPED(st) ? 0 : 1);
	}
	close(rep[1]);
	int st;
	waitpid(c, &st, 0);
	statusline("its parent", st);
	hear("stopped member of the orphaned group");
	close(rep[0]);
}

static void jc_basics(void) {
	section("controlling terminal");
	int v = -1;
	report("TIOCGSID", ioctl(S, TIOCGSID, &v));
	yesno("TIOCGSID is getsid", v == getsid(0));
	report("TIOCGPGRP", ioctl(S, TIOCGPGRP, &v));
	yesno("foreground is our group", v == getpgrp());
	char cmd[32];
	sprintf(cmd, "g%d", getpgrp());
	printf("TIOCGPGRP via the master: %s\n", ctl(cmd));
	int t = open("/dev/tty", O_RDWR);
	report("open /dev/tty", t >= 0 ? 0 : -1);
	char tn[64] = "";
	ttyname_r(t, tn, sizeof tn);
	printf("ttyname(/dev/tty): %s\n", tn);
	struct stat a, b;
	fstat(t, &a);
	stat("/dev/tty", &b);
	printf("/dev/tty rdev %u,%u\n", major(a.st_rdev), minor(a.st_rdev));
	write(t, "via /dev/tty\n", 13);
	close(t);
	mdrain("master");
	report("TIOCSCTTY again (already ours)", ioctl(S, TIOCSCTTY, 0));
	FILE *f = fopen("/proc/self/stat", "r");
	char line[1024] = "";
	if (f) {
		fgets(line, sizeof line, f);
		fclose(f);
	}
	char *p = strrchr(line, ')');
	int ttynr = 0, tpgid = 0;
	if (p)
		sscanf(p + 2, "%*c %*d %*d %*d %d %d", &ttynr, &tpgid);
	printf("/proc/self/stat: tty major %d, tpgid is our group: %s\n", ttynr >> 8, tpgid == getpgrp() ? "yes" : "no");
	report("TIOCSPGRP -1", ioctl(S, TIOCSPGRP, &(int){-1}));
	report("TIOCSPGRP no such group", ioctl(S, TIOCSPGRP, &(int){999999}));
	report("TIOCSPGRP bad pointer", ioctl(S, TIOCSPGRP, (void *)8));
	/* A group of another session. */
	pipe(rep);
	pid_t o = fork();
	if (o == 0) {
		setsid();
		say("x\n");
		pause();
		_exit(0);
	}
	char x[2];
	read(rep[0], x, 2);
	report("TIOCSPGRP another session's group", ioctl(S, TIOCSPGRP, &o));
	kill(o, SIGKILL);
	waitpid(o, NULL, 0);
	close(rep[0]);
	close(rep[1]);
	/* A process that leads no session cannot take a terminal; giving
	 * it up affects only itself. */
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		printf("child TIOCSCTTY: %s\n", ioctl(S, TIOCSCTTY, 0) < 0 ? errname(errno) : "0");
		printf("child TIOCNOTTY: %s\n", ioctl(S, TIOCNOTTY) < 0 ? errname(errno) : "0");
		printf("child /dev/tty after TIOCNOTTY: %s\n", open("/dev/tty", O_RDWR) < 0 ? errname(errno) : "opened");
		int g = -1;
		printf("child TIOCGPGRP after TIOCNOTTY: %s\n", ioctl(S, TIOCGPGRP, &g) < 0 ? errname(errno) : "ok");
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	report("TIOCGPGRP still ours", ioctl(S, TIOCGPGRP, &v));
	/* Another session cannot take it without stealing. */
	fflush(stdout);
	c = fork();
	if (c == 0) {
		setsid();
		printf("other session TIOCSCTTY: %s\n", ioctl(S, TIOCSCTTY, 0) < 0 ? errname(errno) : "0");
		int s2 = -1;
		printf("other session TIOCGSID: %s\n", ioctl(S, TIOCGSID, &s2) < 0 ? errname(errno) : "ok");
		printf("other session /dev/tty: %s\n", open("/dev/tty", O_RDWR) < 0 ? errname(errno) : "opened");
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	/* TIOCSTI: input as if typed. */
	report("TIOCSTI", ioctl(S, TIOCSTI, "s"));
	ioctl(S, TIOCSTI, "\n");
	sread("read after TIOCSTI");
	mdrain("echo");
}

/* keys: ^C, ^\ and ^Z reach the foreground group, not the background
 * leader; TIOCSIG on the master does the same; resizing sends SIGWINCH. */
static void fgwait(void) {
	gotsig = 0;
	catch(SIGINT);
	catch(SIGQUIT);
	catch(SIGTSTP);
	catch(SIGWINCH);
	say("ready\n");
	waitsig();
	if (gotsig == SIGWINCH) {
		struct winsize ws;
		ioctl(S, TIOCGWINSZ, &ws);
		char b[64];
		sprintf(b, "window %dx%d\n", ws.ws_row, ws.ws_col);
		say(b);
	}
}

static void jc_keys(void) {
	section("keyboard signals");
	gotsig = 0;
	catch(SIGINT);
	catch(SIGQUIT);
	catch(SIGTSTP);
	catch(SIGWINCH);
	const char *what[] = {"^C", "^\\", "^Z", "TIOCSIG SIGINT", "TIOCSIG 9", "resize"};
	for (int i = 0; i < 6; i++) {
		pipe(rep);
		pid_t c = bg(fgwait);
		char r[32];
		readline(rep[0], r, sizeof r);
		tcsetpgrp(S, c);
		switch (i) {
		case 0:
			key("\x03");
			break;
		case 1:
			key("\x1c");
			break;
		case 2:
			key("\x1a");
			break;
		case 3:
			printf("TIOCSIG: %s\n", ctl("s2"));
			break;
		case 4:
			printf("TIOCSIG 9: %s\n", ctl("s9"));
			key("\x03");
			break;
		case 5:
			ctl("w30 90");
			break;
		}
		hear(what[i]);
		if (i == 5)
			hear("  size");
		waitpid(c, NULL, 0);
		close(rep[0]);
		close(rep[1]);
		tcsetpgrp(S, getpgrp());
		mdrain("  echo");
	}
	printf("the background leader got: %s\n", gotsig ? signame(gotsig) : "nothing");
	/* Without ISIG the keys are data; NOFLSH keeps input. */
	setlflag(0, ISIG);
	key("a\x03" "b\n");
	sread("-isig");
	mdrain("echo");
	/* Without echo: Linux may or may not have echoed "lost" before ^C
	 * flushes the echoes, depending on whether both writes were taken
	 * in one batch. */
	setlflag(ISIG | NOFLSH, ECHO);
	signal(SIGINT, SIG_IGN);
	key("kept");
	key("\x03" "\n");
	sread("noflsh");
	setlflag(0, NOFLSH);
	key("lost");
	key("\x03" "\n");
	sread("flush on ^C");
	setlflag(ECHO, 0);
	mdrain("echo");
	signal(SIGINT, SIG_DFL);
}

/* The leader exits: its foreground group gets SIGHUP. */
static void hupwait(void) {
	catch(SIGHUP);
	say("ready\n");
	sigset_t none;
	sigemptyset(&none);
	while (!gotsig)
		sigsuspend(&none);
	dprintf(late[1], "foreground member after the leader exited: %s\n", signame(gotsig));
	dprintf(late[1], "  its /dev/tty: %s\n", open("/dev/tty", O_RDWR) < 0 ? errname(errno) : "opened");
	_exit(0);
}

static void jc_exit(void) {
	section("session leader exit");
	pipe(rep);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		hupwait();
	}
	char r[32];
	readline(rep[0], r, sizeof r);
	printf("leader exits\n");
}

/* The master closes: the leader gets SIGHUP (and SIGCONT), and the
 * replica is hung up. */
static void jc_hangup(void) {
	section("hangup");
	gotsig = 0;
	catch(SIGHUP);
	/* SIGHUP stays blocked until the reply is in, so that it cannot
	 * interrupt the wait for it. */
	sigset_t hup, none;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);
	printf("close the master: %s\n", ctl("h"));
	sigemptyset(&none);
	while (!gotsig)
		sigsuspend(&none);
	sigprocmask(SIG_UNBLOCK, &hup, NULL);
	printf("leader got: %s\n", signame(gotsig));
	char b[8];
	report("read after hangup", read(S, b, sizeof b));
	report("write after hangup", write(S, "x", 1));
	int g;
	report("TIOCGPGRP after hangup", ioctl(S, TIOCGPGRP, &g));
	report("open /dev/tty after hangup", open("/dev/tty", O_RDWR));
}

int main(int argc, char **argv) {
	init_output();
	pid_t runner = fork();
	if (runner == 0) {
		if (setsid() < 0)
			die("setsid");
		test_pty();
		test_termios();
		test_canon();
		test_raw();
		test_output();
		test_flow();
		test_readiness();
		test_packet();
		in_session("session", jc_basics);
		in_session("session", jc_keys);
		in_session("session", jc_background);
		in_session("session", jc_orphan);
		in_session("session", jc_exit);
		in_session("session", jc_hangup);
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(runner, &st, 0);
	statusline("runner", st);
	return 0;
}
