/* ioctl: TCGETS on descriptors that are not terminals (ENOTTY), FIONREAD on
 * a pipe, FIOCLEX/FIONCLEX, and with argv[1] == "tty" (stdin and stdout on a
 * pseudo-terminal set up by the test harness, 40 rows x 100 columns):
 * TCGETS/TCSETS/TIOCGWINSZ on it. */
#include "common.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>

int main(int argc, char **argv) {
	init_output();
	struct termios tio;
	struct winsize ws;

	if (argc > 1 && strcmp(argv[1], "tty") == 0) {
		yesno("isatty(0)", isatty(0));
		yesno("isatty(1)", isatty(1));
		report("TCGETS stdin", ioctl(0, TCGETS, &tio));
		yesno("ICANON set", (tio.c_lflag & ICANON) != 0);
		yesno("ECHO set", (tio.c_lflag & ECHO) != 0);
		yesno("ONLCR set", (tio.c_oflag & ONLCR) != 0);
		report("TIOCGWINSZ", ioctl(1, TIOCGWINSZ, &ws));
		printf("window: %d rows x %d cols\n", ws.ws_row, ws.ws_col);
		tio.c_lflag &= ~ECHO;
		report("TCSETS without ECHO", ioctl(0, TCSETS, &tio));
		struct termios again;
		report("TCGETS again", ioctl(0, TCGETS, &again));
		yesno("ECHO now clear", (again.c_lflag & ECHO) == 0);
		tio.c_lflag |= ECHO;
		report("TCSETS restore", ioctl(0, TCSETS, &tio));
		report("TCGETS bad pointer", syscall(SYS_ioctl, 0, TCGETS, (void *)1));
		return 0;
	}

	yesno("isatty(0)", isatty(0));
	report("TCGETS stdin (/dev/null)", ioctl(0, TCGETS, &tio));
	report("TCGETS stdout (pipe)", ioctl(1, TCGETS, &tio));
	int fd = open("/etc/passwd", O_RDONLY);
	report("TCGETS regular file", ioctl(fd, TCGETS, &tio));
	report("TIOCGWINSZ regular file", ioctl(fd, TIOCGWINSZ, &ws));
	report("FIOCLEX", ioctl(fd, FIOCLEX));
	report("F_GETFD after FIOCLEX", fcntl(fd, F_GETFD));
	report("FIONCLEX", ioctl(fd, FIONCLEX));
	report("F_GETFD after FIONCLEX", fcntl(fd, F_GETFD));
	int avail = -1;
	report("FIONREAD regular file", ioctl(fd, FIONREAD, &avail));
	close(fd);
	report("TCGETS bad fd", ioctl(1000, TCGETS, &tio));
	int p[2];
	pipe(p);
	report("TCGETS pipe", ioctl(p[0], TCGETS, &tio));
	write(p[1], "hello", 5);
	avail = -1;
	report("FIONREAD pipe", ioctl(p[0], FIONREAD, &avail));
	printf("FIONREAD bytes: %d\n", avail);
	report("unknown ioctl on pipe", ioctl(p[0], 0x12345678, 0));
	return 0;
}
