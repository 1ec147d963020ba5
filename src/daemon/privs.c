#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	int n = 40;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 40;
		fclose(f);
	}
	return n;
}

/* While still privileged: nothing but `keep` can ever come back. */
static int drop_bounding(int keep)
{
	int last = last_cap();

	for (int c = 0; c <= last; c++) {
		if (c == keep)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL &&
		    errno != EPERM)
			return ZT_EDENIED;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

static int switch_user(const char *user, int keep_caps)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		log_error("privileges: no user '%s'", user);
		return ZT_EDENIED;
	}
	if (geteuid() == pw->pw_uid)
		return 0;
	if (keep_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
		return ZT_EDENIED;
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		log_error("privileges: cannot switch to user %s: %s", user,
			  strerror(errno));
		return ZT_EDENIED;
	}
	/* setuid(0) must now fail, or the switch was not for good. */
	if (setuid(0) == 0) {
		log_error("privileges: could regain root after switching to %s",
			  user);
		return ZT_EDENIED;
	}
	return 0;
}

static int set_caps(int keep)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (keep >= 0) {
		d[keep / 32].effective = 1u << (keep % 32);
		d[keep / 32].permitted = 1u << (keep % 32);
	}
	return syscall(SYS_capset, &h, d) == 0 ? 0 : ZT_EDENIED;
}

int zt_privs_drop(const char *user, int keep_net_admin)
{
	int keep = keep_net_admin ? CAP_NET_ADMIN : -1;

	if (drop_bounding(keep) != 0) {
		log_error("privileges: cannot drop capabilities: %s",
			  strerror(errno));
		return ZT_EDENIED;
	}
	if (user && *user && switch_user(user, keep >= 0) != 0)
		return ZT_EDENIED;
	if (set_caps(keep) != 0) {
		log_error("privileges: cannot set capabilities: %s",
			  strerror(errno));
		return ZT_EDENIED;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		log_error("privileges: cannot set no_new_privs: %s",
			  strerror(errno));
		return ZT_EDENIED;
	}
	log_info("privileges: running as uid %u%s", (unsigned)getuid(),
		 keep >= 0 ? " with CAP_NET_ADMIN only" : " without capabilities");
	return 0;
}
